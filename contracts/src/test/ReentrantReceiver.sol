// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Test-only: a receiver that tries to re-enter the escrow when it is paid.
/// It is a user (deposits, withdraws its ledger to itself) and can act as a provider (withdraws earnings).
interface IEscrowForAttack {
    function deposit() external payable;
    function withdrawLedger(uint256 amount, address payable to) external;
    function withdrawEarnings(address payable to) external;
}

contract ReentrantReceiver {
    IEscrowForAttack public immutable escrow;
    /// @notice 0: do nothing on receive; 1: re-enter withdrawLedger; 2: re-enter withdrawEarnings; 3: revert.
    uint8 public mode;
    uint256 public reentryAmount;
    bool public reentered;
    bytes public reentryError;

    constructor(address escrow_) {
        escrow = IEscrowForAttack(escrow_);
    }

    function setMode(uint8 mode_, uint256 amount) external {
        mode = mode_;
        reentryAmount = amount;
    }

    function depositToEscrow() external payable {
        escrow.deposit{value: msg.value}();
    }

    function withdrawLedger(uint256 amount) external {
        escrow.withdrawLedger(amount, payable(address(this)));
    }

    function withdrawEarnings() external {
        escrow.withdrawEarnings(payable(address(this)));
    }

    receive() external payable {
        if (mode == 3) revert("receiver refuses");
        if (mode == 0 || reentered) return;
        reentered = true;
        // Re-enter and record what happened; the outer call must fail if the guard works.
        if (mode == 1) {
            escrow.withdrawLedger(reentryAmount, payable(address(this)));
        } else if (mode == 2) {
            escrow.withdrawEarnings(payable(address(this)));
        }
    }
}

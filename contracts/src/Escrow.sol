// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title 0G Compute escrow: ledger, payment channels, session-key lanes and batched voucher settlement
/// @notice A user deposits native tokens to a ledger (instant exit) and funds channels to providers.
/// A channel's only exit is a withdrawal request followed by the immutable `LOCK`. Providers are paid by
/// settling user-signed cumulative vouchers (EIP-712 `Ticket`s): each pays `cumulative - settled` on its
/// lane, capped by the channel balance. The contract has no owner and no upgrade path.
/// @dev Lanes: the owner lane (signed by the user itself) keeps its settled counter in the channel slot;
/// every session key the user authorized for a channel has its own lane with a lifetime cap and an
/// expiry. Settled counters are never reset, so an old voucher can never pay twice.
contract Escrow is EIP712, ReentrancyGuard {
    // ---------------------------------------------------------------- types

    /// @notice Funds promised to one provider. `ownerSettled` is the owner lane's lifetime settled total.
    struct Channel {
        uint128 balance;
        uint128 ownerSettled;
        uint128 pendingWithdraw;
        uint64 unlockAt;
    }

    /// @notice A session key's lane on one channel.
    struct KeyLane {
        uint128 settled;
        uint128 cap;
        uint64 validUntil;
    }

    /// @notice A user-signed voucher as submitted for settlement. The provider is the batch's provider.
    /// `r` and `vs` are the EIP-2098 compact form of the signature over the `Ticket` digest.
    struct Voucher {
        address user;
        uint64 nonce;
        uint128 cumulative;
        bytes32 termsHash;
        bytes32 r;
        bytes32 vs;
    }

    /// @notice A delegation the user signs off-chain so that anyone can register a session key for it.
    struct Delegation {
        address user;
        address provider;
        address key;
        uint128 cap;
        uint64 validUntil;
        uint64 nonce;
    }

    /// @notice Why a voucher in a batch paid nothing.
    enum SkipReason {
        None,
        BadSignature,
        NotDelegated,
        LaneClosed,
        NothingNew,
        NoFunds
    }

    // ---------------------------------------------------------------- constants

    /// @notice Shortest and longest withdrawal lock a deployment may choose.
    uint64 public constant MIN_LOCK = 60;
    uint64 public constant MAX_LOCK = 30 days;
    /// @notice Most vouchers in one settlement call.
    uint256 public constant MAX_BATCH = 512;

    bytes32 public constant TERMS_TYPEHASH = keccak256(
        "Terms(bytes32 serviceId,uint32 serviceVersion,uint128 inputPrice,uint128 outputPrice,uint128 maxCost,bytes32 requestHash,uint64 deadline)"
    );
    bytes32 public constant TICKET_TYPEHASH = keccak256(
        "Ticket(address user,address provider,uint64 nonce,uint128 cumulative,Terms terms)Terms(bytes32 serviceId,uint32 serviceVersion,uint128 inputPrice,uint128 outputPrice,uint128 maxCost,bytes32 requestHash,uint64 deadline)"
    );
    bytes32 public constant DELEGATION_TYPEHASH = keccak256(
        "Delegation(address user,address provider,address key,uint128 cap,uint64 validUntil,uint64 nonce)"
    );

    /// @notice Seconds between a withdrawal request and its execution. Immutable.
    uint64 public immutable LOCK;
    /// @notice Smallest balance a channel may hold after a funding (anti-dust, anti-Sybil).
    uint128 public immutable MIN_FUND;

    // ---------------------------------------------------------------- state

    /// @notice Unallocated deposits per user; withdrawable at any time.
    mapping(address user => uint256) public ledger;
    /// @notice Provider earnings from settlement, pulled with `withdrawEarnings`.
    mapping(address provider => uint256) public earnings;
    /// @notice Next delegation nonce per user; bumped by every signed delegation used and every revocation.
    mapping(address user => uint64) public delegationNonce;

    mapping(address user => mapping(address provider => Channel)) internal _channels;
    mapping(address user => mapping(address provider => mapping(address key => KeyLane))) private _keyLanes;

    // ---------------------------------------------------------------- events

    event Deposited(address indexed user, uint256 amount, uint256 ledgerBalance);
    event LedgerWithdrawn(address indexed user, address to, uint256 amount);
    event ChannelFunded(address indexed user, address indexed provider, uint128 amount, uint128 balance);
    event WithdrawRequested(address indexed user, address indexed provider, uint128 amount, uint64 unlockAt);
    event WithdrawCancelled(address indexed user, address indexed provider);
    event WithdrawExecuted(address indexed user, address indexed provider, uint128 amount, uint128 balance);
    event KeyAuthorized(
        address indexed user, address indexed provider, address indexed key, uint128 cap, uint64 validUntil
    );
    event KeyRevoked(address indexed user, address indexed provider, address indexed key, uint64 validUntil);
    /// @notice One voucher paid `paid` to `provider` from the channel of `user`. Which lane it was is in the
    /// voucher's signature; lane totals are in `getChannel` and `getKeyLane`.
    event Settled(address indexed user, address indexed provider, uint128 paid);
    /// @notice One voucher paid nothing, for `reason`. `signer` is zero when the signature did not recover.
    event Skipped(address indexed user, address indexed provider, address signer, SkipReason reason);
    event BatchSettled(address indexed provider, uint256 items, uint256 paid);
    event EarningsWithdrawn(address indexed provider, address to, uint256 amount);

    // ---------------------------------------------------------------- errors

    error LockOutOfRange(uint64 lock);
    error ZeroAmount();
    error ZeroAddress();
    error SelfChannel();
    error InsufficientLedger(uint256 available, uint256 needed);
    error BelowMinFund(uint128 balance, uint128 minFund);
    error AmountTooLarge(uint256 amount);
    error InsufficientChannel(uint128 balance, uint128 needed);
    error NoPendingWithdraw();
    error WithdrawLocked(uint64 unlockAt);
    error InvalidKey();
    error ValidUntilInPast(uint64 validUntil);
    error CapDecrease(uint128 current, uint128 requested);
    error KeyNotAuthorized();
    error BadDelegationSignature();
    error BadDelegationNonce(uint64 expected, uint64 got);
    error EmptyBatch();
    error BatchTooLarge(uint256 items);
    error NothingToWithdraw();
    error TransferFailed();

    /// @param lock seconds between a withdrawal request and its execution, in [MIN_LOCK, MAX_LOCK]
    /// @param minFund smallest balance a funded channel may hold, in wei (0 disables the floor)
    constructor(uint64 lock, uint128 minFund) EIP712("0G Compute Escrow", "1") {
        if (lock < MIN_LOCK || lock > MAX_LOCK) revert LockOutOfRange(lock);
        LOCK = lock;
        MIN_FUND = minFund;
    }

    // ---------------------------------------------------------------- ledger

    /// @notice Deposit `msg.value` to the caller's ledger.
    function deposit() external payable {
        _deposit(msg.sender, msg.value);
    }

    /// @notice Send `amount` of the caller's free ledger balance to `to`. Instant: nobody was promised it.
    function withdrawLedger(uint256 amount, address payable to) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        uint256 available = ledger[msg.sender];
        if (amount > available) revert InsufficientLedger(available, amount);
        ledger[msg.sender] = available - amount;
        emit LedgerWithdrawn(msg.sender, to, amount);
        _send(to, amount);
    }

    // ---------------------------------------------------------------- channels

    /// @notice Move `amount` from the caller's ledger into its channel to `provider`.
    /// @dev Funding never touches a pending withdrawal or its timer. Only the user funds its channels.
    function fund(address provider, uint128 amount) external {
        _fund(msg.sender, provider, amount);
    }

    /// @notice Deposit `msg.value` and fund the channel to `provider` with it, in one call.
    function depositAndFund(address provider) external payable {
        if (msg.value > type(uint128).max) revert AmountTooLarge(msg.value);
        _deposit(msg.sender, msg.value);
        _fund(msg.sender, provider, uint128(msg.value));
    }

    /// @notice Ask to take `amount` out of the channel to `provider`; executable after `LOCK` seconds.
    /// @dev Replaces any pending request and always restarts the lock. Settlement keeps drawing on the
    /// whole balance during the lock.
    function requestWithdraw(address provider, uint128 amount) external {
        if (amount == 0) revert ZeroAmount();
        Channel storage c = _channels[msg.sender][provider];
        if (amount > c.balance) revert InsufficientChannel(c.balance, amount);
        uint64 unlockAt = uint64(block.timestamp) + LOCK;
        c.pendingWithdraw = amount;
        c.unlockAt = unlockAt;
        emit WithdrawRequested(msg.sender, provider, amount, unlockAt);
    }

    /// @notice Cancel the caller's pending withdrawal from the channel to `provider`.
    function cancelWithdraw(address provider) external {
        Channel storage c = _channels[msg.sender][provider];
        if (c.pendingWithdraw == 0) revert NoPendingWithdraw();
        c.pendingWithdraw = 0;
        c.unlockAt = 0;
        emit WithdrawCancelled(msg.sender, provider);
    }

    /// @notice After the lock, move `min(pendingWithdraw, balance)` from the channel back to the ledger.
    function executeWithdraw(address provider) external {
        Channel storage c = _channels[msg.sender][provider];
        uint128 pending = c.pendingWithdraw;
        if (pending == 0) revert NoPendingWithdraw();
        if (block.timestamp < c.unlockAt) revert WithdrawLocked(c.unlockAt);
        uint128 balance = c.balance;
        uint128 amount = pending < balance ? pending : balance;
        c.balance = balance - amount;
        c.pendingWithdraw = 0;
        c.unlockAt = 0;
        ledger[msg.sender] += amount;
        emit WithdrawExecuted(msg.sender, provider, amount, balance - amount);
    }

    // ---------------------------------------------------------------- session keys

    /// @notice Let `key` sign vouchers on the caller's channel to `provider`, up to `cap` wei in total,
    /// until `validUntil` (vouchers stay settleable until `validUntil + LOCK`).
    /// @dev A lane's cap can only rise; to lower it, revoke the key and authorize a new one.
    function authorizeKey(address provider, address key, uint128 cap, uint64 validUntil) external {
        _authorizeKey(msg.sender, provider, key, cap, validUntil);
    }

    /// @notice Register a session key from a delegation the user signed off-chain; anyone may submit it.
    /// @param d the delegation; `d.nonce` must equal `delegationNonce[d.user]`
    /// @param r first half of the EIP-2098 compact signature by `d.user`
    /// @param vs second half of the EIP-2098 compact signature by `d.user`
    function authorizeKeyWithSig(Delegation calldata d, bytes32 r, bytes32 vs) external {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(hashDelegation(d), r, vs);
        if (err != ECDSA.RecoverError.NoError || signer != d.user) revert BadDelegationSignature();
        uint64 expected = delegationNonce[d.user];
        if (d.nonce != expected) revert BadDelegationNonce(expected, d.nonce);
        delegationNonce[d.user] = expected + 1;
        _authorizeKey(d.user, d.provider, d.key, d.cap, d.validUntil);
    }

    /// @notice Stop `key` from signing new vouchers now. Vouchers it signed stay settleable for `LOCK`.
    /// Also invalidates every signed delegation the caller has not submitted yet.
    function revokeKey(address provider, address key) external {
        KeyLane storage l = _keyLanes[msg.sender][provider][key];
        if (l.validUntil == 0) revert KeyNotAuthorized();
        uint64 nowTs = uint64(block.timestamp);
        if (l.validUntil > nowTs) l.validUntil = nowTs;
        delegationNonce[msg.sender] += 1;
        emit KeyRevoked(msg.sender, provider, key, l.validUntil);
    }

    // ---------------------------------------------------------------- settlement

    /// @notice Settle the newest vouchers of many users for `provider` in one transaction.
    /// @dev Permissionless: money only ever moves to `earnings[provider]`, the payee in every signed
    /// digest. Each voucher pays `min(cumulative, cap) - settled` on its lane, capped by the channel
    /// balance (a partial payment leaves the rest claimable). A bad item emits `Skipped` and never
    /// reverts the batch. No external calls happen in the loop.
    /// @param provider the payee of every voucher in the batch
    /// @param vouchers the vouchers, one or more per user, processed in order
    /// @return paid the total credited to the provider's earnings
    function settle(address provider, Voucher[] calldata vouchers) external nonReentrant returns (uint256 paid) {
        uint256 n = vouchers.length;
        if (n == 0) revert EmptyBatch();
        if (n > MAX_BATCH) revert BatchTooLarge(n);
        bytes32 separator = _domainSeparatorV4();
        for (uint256 i; i < n; ++i) {
            paid += _settleOne(provider, separator, vouchers[i]);
        }
        if (paid != 0) earnings[provider] += paid;
        emit BatchSettled(provider, n, paid);
    }

    /// @notice Send all of the caller's settled earnings to `to`.
    function withdrawEarnings(address payable to) external nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        uint256 amount = earnings[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        earnings[msg.sender] = 0;
        emit EarningsWithdrawn(msg.sender, to, amount);
        _send(to, amount);
    }

    // ---------------------------------------------------------------- views

    /// @notice The channel from `user` to `provider`.
    /// @return balance funds still in the channel
    /// @return ownerSettled lifetime total settled on the owner lane
    /// @return pendingWithdraw amount of the pending withdrawal request (0 if none)
    /// @return unlockAt when the pending withdrawal can be executed (0 if none)
    function getChannel(address user, address provider)
        external
        view
        returns (uint128 balance, uint128 ownerSettled, uint128 pendingWithdraw, uint64 unlockAt)
    {
        Channel storage c = _channels[user][provider];
        return (c.balance, c.ownerSettled, c.pendingWithdraw, c.unlockAt);
    }

    /// @notice The lane of session `key` on the channel from `user` to `provider`.
    /// @return settled lifetime total settled on the lane
    /// @return cap lifetime cap of the lane
    /// @return validUntil when the key stops signing (0 if never authorized)
    function getKeyLane(address user, address provider, address key)
        external
        view
        returns (uint128 settled, uint128 cap, uint64 validUntil)
    {
        KeyLane storage l = _keyLanes[user][provider][key];
        return (l.settled, l.cap, l.validUntil);
    }

    /// @notice The EIP-712 digest a user signs for a ticket whose `Terms` struct hashes to `termsHash`.
    function hashTicket(address user, address provider, uint64 nonce, uint128 cumulative, bytes32 termsHash)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(TICKET_TYPEHASH, user, provider, nonce, cumulative, termsHash)));
    }

    /// @notice The EIP-712 struct hash of a ticket's `Terms`.
    function hashTerms(
        bytes32 serviceId,
        uint32 serviceVersion,
        uint128 inputPrice,
        uint128 outputPrice,
        uint128 maxCost,
        bytes32 requestHash,
        uint64 deadline
    ) external pure returns (bytes32) {
        return keccak256(
            abi.encode(
                TERMS_TYPEHASH, serviceId, serviceVersion, inputPrice, outputPrice, maxCost, requestHash, deadline
            )
        );
    }

    /// @notice The EIP-712 digest a user signs for a delegation.
    function hashDelegation(Delegation calldata d) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(DELEGATION_TYPEHASH, d.user, d.provider, d.key, d.cap, d.validUntil, d.nonce))
        );
    }

    // ---------------------------------------------------------------- internals

    function _deposit(address user, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        uint256 balance = ledger[user] + amount;
        ledger[user] = balance;
        emit Deposited(user, amount, balance);
    }

    function _fund(address user, address provider, uint128 amount) internal virtual {
        if (amount == 0) revert ZeroAmount();
        if (provider == address(0)) revert ZeroAddress();
        if (provider == user) revert SelfChannel();
        uint256 available = ledger[user];
        if (amount > available) revert InsufficientLedger(available, amount);
        Channel storage c = _channels[user][provider];
        uint256 next = uint256(c.balance) + amount;
        if (next > type(uint128).max) revert AmountTooLarge(next);
        if (next < MIN_FUND) revert BelowMinFund(uint128(next), MIN_FUND);
        ledger[user] = available - amount;
        c.balance = uint128(next);
        emit ChannelFunded(user, provider, amount, uint128(next));
    }

    function _authorizeKey(address user, address provider, address key, uint128 cap, uint64 validUntil) private {
        if (provider == address(0)) revert ZeroAddress();
        if (key == address(0) || key == user || key == provider) revert InvalidKey();
        if (validUntil <= block.timestamp) revert ValidUntilInPast(validUntil);
        KeyLane storage l = _keyLanes[user][provider][key];
        if (cap < l.cap) revert CapDecrease(l.cap, cap);
        l.cap = cap;
        l.validUntil = validUntil;
        emit KeyAuthorized(user, provider, key, cap, validUntil);
    }

    /// @dev Applies one voucher; returns what it paid. Never reverts for a per-item problem.
    function _settleOne(address provider, bytes32 separator, Voucher calldata v) private returns (uint128) {
        (address user, uint128 cumulative, address signer) = _recoverVoucher(provider, separator, v);
        if (signer == address(0)) {
            emit Skipped(user, provider, address(0), SkipReason.BadSignature);
            return 0;
        }
        Channel storage c = _channels[user][provider];
        if (signer == user) {
            uint128 settled = c.ownerSettled;
            if (cumulative <= settled) return _skip(user, provider, signer, SkipReason.NothingNew);
            uint128 pay = _payable(cumulative - settled, c.balance);
            if (pay == 0) return _skip(user, provider, signer, SkipReason.NoFunds);
            c.ownerSettled = settled + pay;
            c.balance -= pay;
            emit Settled(user, provider, pay);
            return pay;
        }
        KeyLane storage l = _keyLanes[user][provider][signer];
        uint64 validUntil = l.validUntil;
        if (validUntil == 0) return _skip(user, provider, signer, SkipReason.NotDelegated);
        if (block.timestamp > uint256(validUntil) + LOCK) return _skip(user, provider, signer, SkipReason.LaneClosed);
        uint128 limit = cumulative < l.cap ? cumulative : l.cap;
        uint128 laneSettled = l.settled;
        if (limit <= laneSettled) return _skip(user, provider, signer, SkipReason.NothingNew);
        uint128 amount = _payable(limit - laneSettled, c.balance);
        if (amount == 0) return _skip(user, provider, signer, SkipReason.NoFunds);
        l.settled = laneSettled + amount;
        c.balance -= amount;
        emit Settled(user, provider, amount);
        return amount;
    }

    /// @dev Hot path of settlement: rebuilds the voucher's `Ticket` digest for `provider` in scratch memory
    /// and recovers its signer with the ecrecover precompile. Returns `signer == 0` for any malformed item
    /// (a field wider than its type, an `s` in the upper half of the curve order, a bad `v`, or a
    /// signature that does not recover), so that a bad item is skipped and never reverts the batch.
    /// Equivalent to `ECDSA.tryRecover(hashTicket(...), r, vs)`; tests pin it against `hashTicket`.
    function _recoverVoucher(address provider, bytes32 separator, Voucher calldata v)
        private
        view
        returns (address user, uint128 cumulative, address signer)
    {
        bytes32 typehash = TICKET_TYPEHASH;
        assembly ("memory-safe") {
            let userWord := calldataload(v)
            let nonce := calldataload(add(v, 0x20))
            let cumulativeWord := calldataload(add(v, 0x40))
            let vs := calldataload(add(v, 0xa0))
            let s := and(vs, 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff)
            user := and(userWord, 0xffffffffffffffffffffffffffffffffffffffff)
            cumulative := and(cumulativeWord, 0xffffffffffffffffffffffffffffffff)
            let malformed := or(or(shr(160, userWord), shr(64, nonce)), shr(128, cumulativeWord))
            malformed := or(malformed, gt(s, 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0))
            if iszero(malformed) {
                let m := mload(0x40)
                mstore(m, typehash)
                mstore(add(m, 0x20), userWord)
                mstore(add(m, 0x40), provider)
                mstore(add(m, 0x60), nonce)
                mstore(add(m, 0x80), cumulativeWord)
                mstore(add(m, 0xa0), calldataload(add(v, 0x60)))
                let structHash := keccak256(m, 0xc0)
                mstore(m, shl(240, 0x1901))
                mstore(add(m, 0x02), separator)
                mstore(add(m, 0x22), structHash)
                let digest := keccak256(m, 0x42)
                mstore(m, digest)
                mstore(add(m, 0x20), add(shr(255, vs), 27))
                mstore(add(m, 0x40), calldataload(add(v, 0x80)))
                mstore(add(m, 0x60), s)
                mstore(0x00, 0)
                if staticcall(gas(), 0x01, m, 0x80, 0x00, 0x20) {
                    if eq(returndatasize(), 0x20) { signer := mload(0x00) }
                }
            }
        }
    }

    function _payable(uint128 owed, uint128 balance) private pure returns (uint128) {
        return owed < balance ? owed : balance;
    }

    function _skip(address user, address provider, address signer, SkipReason reason) private returns (uint128) {
        emit Skipped(user, provider, signer, reason);
        return 0;
    }

    function _send(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Escrow} from "./Escrow.sol";

/// @notice The Groth16 verifier exported by snarkjs for the settlement circuit (one public input).
interface IZkSettlementVerifier {
    function verifyProof(uint256[2] calldata a, uint256[2][2] calldata b, uint256[2] calldata c, uint256[1] calldata pub)
        external
        view
        returns (bool);
}

/// @notice Poseidon with circomlib's parameters (see the generated `PoseidonHasher`).
interface IPoseidonHasher {
    function hash2(uint256 a, uint256 b) external pure returns (uint256);
    function hash3(uint256 a, uint256 b, uint256 c) external pure returns (uint256);
}

/// @title 0G Compute escrow with ZK-compressed settlement
/// @notice Everything `Escrow` does (ledger, voucher-mode channels, session keys, batched voucher
/// settlement), plus ZK-mode channels: a user opens a ZK channel to a provider with a BabyJubJub key,
/// deposits into it, and signs EdDSA-Poseidon vouchers; the provider settles many users' newest vouchers
/// with one Groth16 proof that moves its channel tree from the stored root to a new one. Settlement
/// writes O(1) storage whatever the number of users. See docs/zk-settlement.md.
/// @dev Per provider the contract stores the tree root, a queue of deposits (a Poseidon hash chain the
/// next proofs must consume in order) and counters. Users exit without the provider: after `LOCK` they
/// prove their leaf against the current root and the contract updates the leaf and the root itself.
/// If the provider leaves a deposit unconsumed for `LOCK`, its ZK state freezes for good and deposits
/// that never reached the tree are returned as they are.
contract ZkEscrow is Escrow {
    // ---------------------------------------------------------------- types

    /// @notice A user's ZK channel to one provider.
    struct ZkChannel {
        uint256 keyHash; // Poseidon(Ax, Ay) of the user's BabyJubJub key; 0 = never opened
        uint32 leafIndex;
        bool active; // ZK mode on: voucher-mode funding of this channel is refused
        uint96 deposited; // lifetime deposits (bounds funded below 2^96)
        uint64 lastDepositPos; // queue position + 1 of the latest deposit (0 = none)
        uint96 lastDepositAmount;
        uint96 pendingWithdraw;
        uint64 unlockAt;
    }

    /// @notice A provider's ZK state besides its root.
    struct ZkCounters {
        uint64 consumed; // queue entries the proofs have consumed
        uint64 length; // queue entries ever appended
        uint32 leaves; // channels opened (next leaf index)
        uint96 earnings; // settled in ZK mode, not yet claimed
    }

    // ---------------------------------------------------------------- constants

    uint256 internal constant FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 private constant LOW_125 = (1 << 125) - 1;
    uint256 private constant MAX_ZK_AMOUNT = (1 << 96) - 1;

    /// @notice The verifier of the settlement circuit; its verifying key fixes K, Q and DEPTH.
    IZkSettlementVerifier public immutable ZK_VERIFIER;
    IPoseidonHasher public immutable POSEIDON;
    /// @notice Voucher slots per proof (K), queue slots per proof (Q), channel tree depth.
    uint32 public immutable ZK_BATCH;
    uint32 public immutable ZK_QUEUE_SLOTS;
    uint8 public immutable ZK_DEPTH;
    /// @notice The proving cadence a provider keeps while deposits wait: a provider that lands a proof at
    /// least every `ZK_PROOF_INTERVAL` seconds can never be frozen, however many deposits anyone makes.
    uint64 public immutable ZK_PROOF_INTERVAL;
    /// @notice Most deposits a provider's queue holds unconsumed: Q * (LOCK / ZK_PROOF_INTERVAL - 1), what
    /// such a provider consumes in one interval less than the lock. Without a bound, deposits from many
    /// channels could outrun its proofs until the oldest entry waited the lock, freezing its ZK mode for
    /// good. Filling the queue costs as many deposits (each at least MIN_FUND, each from its own channel)
    /// as outrunning such a provider for a whole lock did without the bound, and it only refuses deposits
    /// until the next proof, while that freeze was permanent.
    uint256 public immutable ZK_QUEUE_MAX;
    /// @notice Root of an empty channel tree (every leaf Poseidon(0, 0)).
    uint256 public immutable ZK_EMPTY_ROOT;

    // ---------------------------------------------------------------- state

    mapping(address user => mapping(address provider => ZkChannel)) private _zkChannels;
    mapping(address provider => uint256) private _zkRoot;
    mapping(address provider => ZkCounters) private _zkCounters;
    /// @dev queue hash after the first `n` entries (n = 0 is 0)
    mapping(address provider => mapping(uint256 n => uint256)) private _zkQueueHash;
    /// @dev when entry `i` was appended
    mapping(address provider => mapping(uint256 i => uint64)) private _zkQueueTime;

    // ---------------------------------------------------------------- events

    event ZkChannelOpened(
        address indexed user, address indexed provider, uint32 leafIndex, uint256 ax, uint256 ay, uint256 keyHash
    );
    event ZkChannelClosed(address indexed user, address indexed provider, uint32 leafIndex);
    /// @notice Queue entry `position` for the provider: the next proofs add `amount` to leaf `leafIndex`.
    event ZkDeposited(
        address indexed user, address indexed provider, uint32 leafIndex, uint96 amount, uint64 position, uint256 keyHash
    );
    /// @notice A proof consumed queue entries [fromPos, toPos) and paid `amount`. The new root and the
    /// per-user updates are in the transaction's `newRoot` and `data` arguments (calldata is cheaper).
    event ZkSettled(address indexed provider, uint64 fromPos, uint64 toPos, uint128 amount);
    event ZkWithdrawRequested(address indexed user, address indexed provider, uint96 amount, uint64 unlockAt);
    event ZkWithdrawCancelled(address indexed user, address indexed provider);
    /// @notice An exit moved `amount` from leaf `leafIndex` to the user's ledger; the leaf now holds
    /// (`funded`, `paid`) and the root is `newRoot`.
    event ZkWithdrawn(
        address indexed user, address indexed provider, uint32 leafIndex, uint96 amount, uint96 funded, uint96 paid, uint256 newRoot
    );
    event ZkDepositReclaimed(address indexed user, address indexed provider, uint96 amount);
    event ZkEarningsClaimed(address indexed provider, uint256 amount);

    // ---------------------------------------------------------------- errors

    error ChannelInZkMode();
    error ZkChannelNotActive();
    error ZkChannelOpen();
    error ChannelNotEmpty();
    error InvalidZkKey();
    error ZkKeyMismatch();
    error TreeFull();
    error ZkAmountTooLarge();
    error DepositPending();
    error ZkFrozen();
    error ZkQueueFull(uint256 pending, uint256 max);
    error NotFrozen();
    error BadZkData();
    error NotAFieldElement();
    error InvalidProof();
    error BadMerkleProof();
    error NothingToReclaim();
    error BadZkConfig();

    /// @param lock seconds between a withdrawal request and its execution (both modes)
    /// @param minFund smallest balance a funded voucher-mode channel may hold
    /// @param verifier the exported Groth16 verifier of the settlement circuit
    /// @param poseidon the `PoseidonHasher` deployment
    /// @param batch K, the circuit's voucher slots
    /// @param queueSlots Q, the circuit's queue slots
    /// @param depth the circuit's tree depth (at most 32)
    /// @param proofInterval seconds within which a provider lands its next proof while deposits wait;
    /// positive and at most half the lock (so the queue holds at least one proof's worth)
    constructor(
        uint64 lock,
        uint128 minFund,
        IZkSettlementVerifier verifier,
        IPoseidonHasher poseidon,
        uint32 batch,
        uint32 queueSlots,
        uint8 depth,
        uint64 proofInterval
    ) Escrow(lock, minFund) {
        if (batch == 0 || queueSlots == 0 || depth == 0 || depth > 32) revert BadZkConfig();
        if (proofInterval == 0 || uint256(proofInterval) * 2 > lock) revert BadZkConfig();
        ZK_VERIFIER = verifier;
        POSEIDON = poseidon;
        ZK_BATCH = batch;
        ZK_QUEUE_SLOTS = queueSlots;
        ZK_DEPTH = depth;
        ZK_PROOF_INTERVAL = proofInterval;
        // Entries wait at most ceil(max / Q) = LOCK / interval - 1 proofs: one interval short of the lock.
        ZK_QUEUE_MAX = uint256(queueSlots) * (lock / proofInterval - 1);
        uint256 h = poseidon.hash2(0, 0);
        for (uint256 i; i < depth; ++i) {
            h = poseidon.hash2(h, h);
        }
        ZK_EMPTY_ROOT = h;
    }

    // ---------------------------------------------------------------- mode switching

    /// @notice Put the caller's channel to `provider` in ZK mode, with BabyJubJub key (ax, ay).
    /// @dev The first opening assigns a leaf and binds the key to the caller for good. The voucher-mode
    /// channel must be empty with no pending withdrawal, so no voucher can draw on ZK funds and no
    /// funds are left behind; voucher-mode funding is refused while ZK mode is on.
    function openZkChannel(address provider, uint256 ax, uint256 ay) external {
        if (provider == address(0)) revert ZeroAddress();
        if (provider == msg.sender) revert SelfChannel();
        Channel storage c = _channels[msg.sender][provider];
        if (c.balance != 0 || c.pendingWithdraw != 0) revert ChannelNotEmpty();
        ZkChannel storage z = _zkChannels[msg.sender][provider];
        if (z.active) revert ZkChannelOpen();
        if (ax >= FIELD || ay >= FIELD) revert InvalidZkKey();
        uint256 keyHash = POSEIDON.hash2(ax, ay);
        if (z.keyHash == 0) {
            ZkCounters storage counters = _zkCounters[provider];
            uint32 leafIndex = counters.leaves;
            if (uint256(leafIndex) >= (uint256(1) << ZK_DEPTH)) revert TreeFull();
            counters.leaves = leafIndex + 1;
            z.keyHash = keyHash;
            z.leafIndex = leafIndex;
        } else if (z.keyHash != keyHash) {
            revert ZkKeyMismatch();
        }
        z.active = true;
        emit ZkChannelOpened(msg.sender, provider, z.leafIndex, ax, ay, keyHash);
    }

    /// @dev Voucher-mode funding of a channel in ZK mode would fund vouchers the user cannot see.
    function _fund(address user, address provider, uint128 amount) internal override {
        if (_zkChannels[user][provider].active) revert ChannelInZkMode();
        super._fund(user, provider, amount);
    }

    // ---------------------------------------------------------------- deposits

    /// @notice Deposit `msg.value` into the caller's ZK channel to `provider` (queued for the next proof).
    /// @dev At least `MIN_FUND`; refused (`ZkQueueFull`) while the provider's queue holds `ZK_QUEUE_MAX`
    /// unconsumed deposits, until its next proof.
    function zkDeposit(address provider) external payable {
        if (msg.value > MAX_ZK_AMOUNT) revert ZkAmountTooLarge();
        _zkDeposit(msg.sender, provider, uint96(msg.value));
    }

    /// @notice Move `amount` from the caller's ledger into its ZK channel to `provider`.
    /// @dev The same rules as `zkDeposit`.
    function zkFund(address provider, uint96 amount) external {
        uint256 available = ledger[msg.sender];
        if (amount > available) revert InsufficientLedger(available, amount);
        ledger[msg.sender] = available - amount;
        _zkDeposit(msg.sender, provider, amount);
    }

    function _zkDeposit(address user, address provider, uint96 amount) private {
        if (amount == 0) revert ZeroAmount();
        // Every queue entry costs at least MIN_FUND of locked funds, as a voucher-mode channel does.
        if (amount < MIN_FUND) revert BelowMinFund(amount, MIN_FUND);
        ZkChannel storage z = _zkChannels[user][provider];
        if (!z.active) revert ZkChannelNotActive();
        ZkCounters storage counters = _zkCounters[provider];
        uint64 pos = counters.length;
        if (_isFrozen(provider, counters)) revert ZkFrozen();
        // A bounded queue: a provider that keeps its proving cadence consumes every entry within the lock.
        uint256 pending = pos - counters.consumed;
        if (pending >= ZK_QUEUE_MAX) revert ZkQueueFull(pending, ZK_QUEUE_MAX);
        // One unconsumed deposit per channel keeps a frozen provider's refunds exact.
        if (z.lastDepositPos > counters.consumed) revert DepositPending();
        uint256 deposited = uint256(z.deposited) + amount;
        if (deposited > MAX_ZK_AMOUNT) revert ZkAmountTooLarge();
        z.deposited = uint96(deposited);
        uint256 entry = uint256(z.leafIndex) | (uint256(amount) << 32);
        _zkQueueHash[provider][pos + 1] = POSEIDON.hash3(_zkQueueHash[provider][pos], z.keyHash, entry);
        _zkQueueTime[provider][pos] = uint64(block.timestamp);
        counters.length = pos + 1;
        z.lastDepositPos = pos + 1;
        z.lastDepositAmount = amount;
        emit ZkDeposited(user, provider, z.leafIndex, amount, pos, z.keyHash);
    }

    // ---------------------------------------------------------------- settlement

    /// @notice Apply one proof: the provider's tree moves from its stored root to `newRoot`, the next
    /// min(pending, Q) queue entries are consumed, and `amount` is credited to the provider.
    /// @dev Permissionless: money only moves to the provider. One public input: r | P(r) << 128 (125
    /// bits), where r is a keccak challenge over everything checked here and P is the polynomial whose
    /// coefficients are (commitment, oldRoot, newRoot, oldQueueHash, newQueueHash, nQueue, chainid,
    /// this, provider, amount, data words). The circuit proves the same identity over its own values
    /// and that `commitment` is their Poseidon commitment, so every value here is bound to the proof.
    /// Storage writes: the root and one counter slot, whatever the number of users.
    /// @param provider whose tree this is
    /// @param newRoot the tree root after the batch
    /// @param amount total paid by the batch
    /// @param commitment the circuit's Poseidon commitment to the batch
    /// @param data 16 bytes per voucher slot used: leafIndex (low 32 bits) | newPaid (high 96 bits)
    /// @param proof Groth16 proof (a, b, c) as eight words
    function settleZk(
        address provider,
        uint256 newRoot,
        uint128 amount,
        uint256 commitment,
        bytes calldata data,
        uint256[8] calldata proof
    ) external {
        if (newRoot >= FIELD || commitment >= FIELD) revert NotAFieldElement();
        if (data.length % 16 != 0 || data.length > uint256(ZK_BATCH) * 16) revert BadZkData();
        ZkCounters memory counters = _zkCounters[provider];
        if (_isFrozen(provider, counters)) revert ZkFrozen();
        uint64 fromPos = counters.consumed;
        uint64 toPos = counters.length - fromPos > ZK_QUEUE_SLOTS ? fromPos + ZK_QUEUE_SLOTS : counters.length;
        uint256 oldRoot = _zkRoot[provider];
        if (oldRoot == 0) oldRoot = ZK_EMPTY_ROOT;
        // With nothing to consume the queue hashes play no part; both are 0 (saves two cold reads).
        uint256 oldQueueHash;
        uint256 newQueueHash;
        if (toPos != fromPos) {
            oldQueueHash = _zkQueueHash[provider][fromPos];
            newQueueHash = _zkQueueHash[provider][toPos];
        }

        uint256 pub = _publicInput(
            [
                commitment,
                oldRoot,
                newRoot,
                oldQueueHash,
                newQueueHash,
                uint256(toPos - fromPos),
                block.chainid,
                uint256(uint160(address(this))),
                uint256(uint160(provider)),
                uint256(amount)
            ],
            data
        );
        if (
            !ZK_VERIFIER.verifyProof(
                [proof[0], proof[1]], [[proof[2], proof[3]], [proof[4], proof[5]]], [proof[6], proof[7]], [pub]
            )
        ) revert InvalidProof();

        _zkRoot[provider] = newRoot;
        uint256 earned = uint256(counters.earnings) + amount;
        if (earned > type(uint96).max) revert ZkAmountTooLarge();
        counters.consumed = toPos;
        counters.earnings = uint96(earned);
        _zkCounters[provider] = counters; // one slot
        emit ZkSettled(provider, fromPos, toPos, amount);
    }

    /// @notice Move the caller's ZK earnings into its `earnings` (then `withdrawEarnings`).
    function claimZkEarnings() external {
        ZkCounters storage counters = _zkCounters[msg.sender];
        uint256 amount = counters.earnings;
        if (amount == 0) revert NothingToWithdraw();
        counters.earnings = 0;
        earnings[msg.sender] += amount;
        emit ZkEarningsClaimed(msg.sender, amount);
    }

    /// @dev keccak challenge r (128 bits) and the low 125 bits of P(r), packed as one field element.
    /// P's coefficients from the top: the data words (16 bytes each, last first), then the header.
    function _publicInput(uint256[10] memory header, bytes calldata data) private pure returns (uint256 pub) {
        uint256 r = uint256(keccak256(bytes.concat(abi.encode(header), data))) & type(uint128).max;
        uint256 acc;
        assembly ("memory-safe") {
            for { let i := data.length } i { i := sub(i, 16) } {
                acc := addmod(mulmod(acc, r, FIELD), shr(128, calldataload(add(data.offset, sub(i, 16)))), FIELD)
            }
            for { let j := 10 } j { j := sub(j, 1) } {
                acc := addmod(mulmod(acc, r, FIELD), mload(add(header, shl(5, sub(j, 1)))), FIELD)
            }
        }
        pub = r | ((acc & LOW_125) << 128);
    }

    // ---------------------------------------------------------------- exits

    /// @notice Ask to take `amount` out of the caller's ZK channel to `provider`, after `LOCK` seconds.
    /// @dev Replaces any pending request and always restarts the lock. Proofs keep drawing on the whole
    /// channel during the lock; the exit pays min(amount, what is left) from the tree at that time.
    function zkRequestWithdraw(address provider, uint96 amount) external {
        if (amount == 0) revert ZeroAmount();
        ZkChannel storage z = _zkChannels[msg.sender][provider];
        if (z.keyHash == 0) revert ZkChannelNotActive();
        uint64 unlockAt = uint64(block.timestamp) + LOCK;
        z.pendingWithdraw = amount;
        z.unlockAt = unlockAt;
        emit ZkWithdrawRequested(msg.sender, provider, amount, unlockAt);
    }

    /// @notice Cancel the caller's pending ZK withdrawal.
    function zkCancelWithdraw(address provider) external {
        ZkChannel storage z = _zkChannels[msg.sender][provider];
        if (z.pendingWithdraw == 0) revert NoPendingWithdraw();
        z.pendingWithdraw = 0;
        z.unlockAt = 0;
        emit ZkWithdrawCancelled(msg.sender, provider);
    }

    /// @notice After the lock, exit from the last proven state: prove the caller's leaf (`funded`,
    /// `paid`) against the provider's current root with `siblings`, and receive min(pending, funded -
    /// paid) on the ledger. The contract rewrites the leaf and the root itself, so no proof in flight
    /// can spend the same funds. Works whether or not the provider still proves. When the channel is
    /// left empty with no deposit in the queue, it returns to voucher mode.
    /// @param funded the leaf's deposits minus withdrawals, as in the tree
    /// @param paid the leaf's lifetime paid, as in the tree
    /// @param siblings Merkle path from the leaf up (ZK_DEPTH hashes)
    function zkExecuteWithdraw(address provider, uint96 funded, uint96 paid, uint256[] calldata siblings)
        external
        nonReentrant
    {
        ZkChannel storage z = _zkChannels[msg.sender][provider];
        uint96 pending = z.pendingWithdraw;
        if (pending == 0) revert NoPendingWithdraw();
        if (block.timestamp < z.unlockAt) revert WithdrawLocked(z.unlockAt);
        if (siblings.length != ZK_DEPTH || paid > funded) revert BadMerkleProof();
        uint256 root = _zkRoot[provider];
        if (root == 0) root = ZK_EMPTY_ROOT;
        uint32 leafIndex = z.leafIndex;
        uint256 keyHash = z.keyHash;
        if (_walk(POSEIDON.hash2(keyHash, uint256(funded) | (uint256(paid) << 96)), leafIndex, siblings) != root) {
            revert BadMerkleProof();
        }
        uint96 available = funded - paid;
        uint96 amount = pending < available ? pending : available;
        uint96 newFunded = funded - amount;
        uint256 newRoot = _walk(POSEIDON.hash2(keyHash, uint256(newFunded) | (uint256(paid) << 96)), leafIndex, siblings);
        _zkRoot[provider] = newRoot;
        z.pendingWithdraw = 0;
        z.unlockAt = 0;
        ledger[msg.sender] += amount;
        emit ZkWithdrawn(msg.sender, provider, leafIndex, amount, newFunded, paid, newRoot);
        if (newFunded == paid && z.active && z.lastDepositPos <= _zkCounters[provider].consumed) {
            z.active = false;
            emit ZkChannelClosed(msg.sender, provider, leafIndex);
        }
    }

    /// @notice When the provider's ZK state is frozen (a deposit waited `LOCK` unconsumed), take back
    /// the caller's deposit that never reached the tree.
    function zkReclaimDeposit(address provider) external {
        ZkCounters memory counters = _zkCounters[provider];
        if (!_isFrozen(provider, counters)) revert NotFrozen();
        ZkChannel storage z = _zkChannels[msg.sender][provider];
        if (z.lastDepositPos <= counters.consumed) revert NothingToReclaim();
        uint96 amount = z.lastDepositAmount;
        z.lastDepositPos = 0;
        z.lastDepositAmount = 0;
        z.deposited -= amount;
        ledger[msg.sender] += amount;
        emit ZkDepositReclaimed(msg.sender, provider, amount);
    }

    function _walk(uint256 leaf, uint32 index, uint256[] calldata siblings) private view returns (uint256 h) {
        h = leaf;
        uint256 i = index;
        for (uint256 level; level < siblings.length; ++level) {
            h = (i & 1) == 0 ? POSEIDON.hash2(h, siblings[level]) : POSEIDON.hash2(siblings[level], h);
            i >>= 1;
        }
    }

    /// @dev Frozen: the oldest unconsumed deposit has waited `LOCK`. Sticky, since no proof lands after.
    function _isFrozen(address provider, ZkCounters memory counters) private view returns (bool) {
        return counters.consumed < counters.length
            && block.timestamp >= uint256(_zkQueueTime[provider][counters.consumed]) + LOCK;
    }

    // ---------------------------------------------------------------- views

    /// @notice The caller-visible state of a ZK channel.
    function getZkChannel(address user, address provider) external view returns (ZkChannel memory) {
        return _zkChannels[user][provider];
    }

    /// @notice A provider's ZK state.
    /// @return root the current channel-tree root
    /// @return consumed queue entries consumed by proofs
    /// @return length queue entries appended
    /// @return leaves channels opened
    /// @return zkEarnings settled and not yet claimed
    /// @return frozen whether deposits waited too long and the state is frozen for good
    function getZkProvider(address provider)
        external
        view
        returns (uint256 root, uint64 consumed, uint64 length, uint32 leaves, uint96 zkEarnings, bool frozen)
    {
        ZkCounters memory counters = _zkCounters[provider];
        root = _zkRoot[provider];
        if (root == 0) root = ZK_EMPTY_ROOT;
        return (root, counters.consumed, counters.length, counters.leaves, counters.earnings, _isFrozen(provider, counters));
    }

    /// @notice The provider's queue hash after its first `n` entries.
    function zkQueueHash(address provider, uint256 n) external view returns (uint256) {
        return _zkQueueHash[provider][n];
    }
}

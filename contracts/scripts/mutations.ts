/**
 * The mutations `mutate.ts` applies: one per protective check of the contracts (signatures, bounds,
 * locks, caps, nonces, balances), each a textual replacement that must match exactly once, so a change of
 * the sources that moves a check makes the run fail until this list is updated.
 *
 * Left out on purpose, because no test can tell the mutant from the original:
 * - `nonReentrant` on `settle` and `zkExecuteWithdraw` (no external call but to the pure Poseidon hasher)
 *   and on `withdrawEarnings` (the earnings are zeroed before the transfer, so a re-entry finds nothing and
 *   fails the same way, `TransferFailed`);
 * - the `err != NoError` half of the delegation check (a failed recovery returns signer 0, which only
 *   "matches" a delegation for user 0, whose channels nobody can fund) and the returndata-size check after
 *   ecrecover;
 * - `depositAndFund`'s `msg.value > type(uint128).max` (no transaction carries 2^128 wei: anvil refuses it,
 *   and it exceeds any real supply);
 * - a ZK exit's `siblings.length != ZK_DEPTH` and `paid > funded` (with a path of another length, or a
 *   leaf with paid above funded, the walk cannot reach the current root short of a Poseidon collision, so
 *   the exit fails with the same `BadMerkleProof`).
 */

export type ContractFile = "Escrow.sol" | "ZkEscrow.sol" | "ServiceRegistry.sol";

export interface Mutation {
  /** Stable name, unique across files, for `--only`. */
  id: string;
  file: ContractFile;
  /** The protective check this mutation breaks. */
  check: string;
  from: string;
  to: string;
}

/** The contract test files run against a mutant of each source file, fastest first. */
export const TESTS: Record<ContractFile, readonly string[]> = {
  "Escrow.sol": [
    "escrow-channels.test.ts",
    "escrow-keys.test.ts",
    "escrow-settlement.test.ts",
    "escrow-malleability.test.ts",
    "escrow-bounds.test.ts",
    "lock-invariant.test.ts",
  ],
  "ZkEscrow.sol": ["zk-queue.test.ts", "zk-rules.test.ts", "lock-invariant.test.ts", "zk-exit-lock.test.ts", "zk-settlement.test.ts"],
  "ServiceRegistry.sol": ["registry.test.ts"],
};

const escrow = (id: string, check: string, from: string, to: string): Mutation => ({ id, file: "Escrow.sol", check, from, to });
const zk = (id: string, check: string, from: string, to: string): Mutation => ({ id, file: "ZkEscrow.sol", check, from, to });
const registry = (id: string, check: string, from: string, to: string): Mutation => ({ id, file: "ServiceRegistry.sol", check, from, to });

export const MUTATIONS: readonly Mutation[] = [
  // ------------------------------------------------------------------ Escrow: deployment, ledger
  escrow(
    "lock-range",
    "the lock is within [MIN_LOCK, MAX_LOCK]",
    "if (lock < MIN_LOCK || lock > MAX_LOCK) revert LockOutOfRange(lock);",
    "",
  ),
  escrow("lock-range-max", "the lock is at most MAX_LOCK", "lock < MIN_LOCK || lock > MAX_LOCK", "lock < MIN_LOCK"),
  escrow(
    "withdraw-ledger-zero",
    "no empty ledger withdrawal",
    "function withdrawLedger(uint256 amount, address payable to) external nonReentrant {\n        if (amount == 0) revert ZeroAmount();",
    "function withdrawLedger(uint256 amount, address payable to) external nonReentrant {",
  ),
  escrow(
    "withdraw-ledger-to",
    "no ledger withdrawal to the zero address",
    "if (amount == 0) revert ZeroAmount();\n        if (to == address(0)) revert ZeroAddress();",
    "if (amount == 0) revert ZeroAmount();",
  ),
  escrow(
    "withdraw-ledger-balance",
    "a ledger withdrawal is covered by the ledger",
    "if (amount > available) revert InsufficientLedger(available, amount);\n        ledger[msg.sender] = available - amount;\n        emit LedgerWithdrawn",
    "ledger[msg.sender] = available - amount;\n        emit LedgerWithdrawn",
  ),
  escrow(
    "withdraw-ledger-debit",
    "the ledger is debited before the transfer",
    "ledger[msg.sender] = available - amount;\n        emit LedgerWithdrawn",
    "emit LedgerWithdrawn",
  ),
  escrow(
    "withdraw-ledger-reentrancy",
    "withdrawLedger cannot be re-entered",
    "function withdrawLedger(uint256 amount, address payable to) external nonReentrant {",
    "function withdrawLedger(uint256 amount, address payable to) external {",
  ),
  escrow(
    "deposit-zero",
    "no empty deposit",
    "function _deposit(address user, uint256 amount) private {\n        if (amount == 0) revert ZeroAmount();",
    "function _deposit(address user, uint256 amount) private {",
  ),

  // ------------------------------------------------------------------ Escrow: funding
  escrow(
    "fund-zero",
    "no empty funding",
    "function _fund(address user, address provider, uint128 amount) internal virtual {\n        if (amount == 0) revert ZeroAmount();",
    "function _fund(address user, address provider, uint128 amount) internal virtual {",
  ),
  escrow(
    "fund-zero-provider",
    "no channel to the zero address",
    "if (amount == 0) revert ZeroAmount();\n        if (provider == address(0)) revert ZeroAddress();\n        if (provider == user) revert SelfChannel();",
    "if (amount == 0) revert ZeroAmount();\n        if (provider == user) revert SelfChannel();",
  ),
  escrow(
    "fund-self",
    "no channel to oneself",
    "if (provider == user) revert SelfChannel();\n        uint256 available",
    "uint256 available",
  ),
  escrow(
    "fund-ledger",
    "funding is covered by the ledger",
    "if (amount > available) revert InsufficientLedger(available, amount);\n        Channel storage c",
    "Channel storage c",
  ),
  escrow("fund-width", "a channel balance stays below 2^128", "if (next > type(uint128).max) revert AmountTooLarge(next);", ""),
  escrow("fund-min", "a funded channel holds at least MIN_FUND", "if (next < MIN_FUND) revert BelowMinFund(uint128(next), MIN_FUND);", ""),
  escrow("fund-min-flip", "a funded channel holds at least MIN_FUND (comparison)", "if (next < MIN_FUND)", "if (next + 1 < MIN_FUND)"),
  escrow(
    "fund-debit",
    "funding debits the ledger",
    "ledger[user] = available - amount;\n        c.balance = uint128(next);",
    "c.balance = uint128(next);",
  ),

  // ------------------------------------------------------------------ Escrow: withdrawals and the lock
  escrow(
    "request-zero",
    "no empty withdrawal request",
    "if (amount == 0) revert ZeroAmount();\n        Channel storage c = _channels[msg.sender][provider];\n        if (amount > c.balance)",
    "Channel storage c = _channels[msg.sender][provider];\n        if (amount > c.balance)",
  ),
  escrow(
    "request-balance",
    "a request is covered by the channel",
    "if (amount > c.balance) revert InsufficientChannel(c.balance, amount);",
    "",
  ),
  escrow(
    "request-restart",
    "every request restarts the lock",
    "uint64 unlockAt = uint64(block.timestamp) + LOCK;\n        c.pendingWithdraw = amount;",
    "uint64 unlockAt = c.unlockAt != 0 ? c.unlockAt : uint64(block.timestamp) + LOCK;\n        c.pendingWithdraw = amount;",
  ),
  escrow(
    "request-lock-length",
    "a request waits the whole lock",
    "uint64 unlockAt = uint64(block.timestamp) + LOCK;\n        c.pendingWithdraw = amount;",
    "uint64 unlockAt = uint64(block.timestamp) + LOCK / 2;\n        c.pendingWithdraw = amount;",
  ),
  escrow(
    "cancel-nothing",
    "cancel needs a pending request",
    "if (c.pendingWithdraw == 0) revert NoPendingWithdraw();\n        c.pendingWithdraw = 0;\n        c.unlockAt = 0;\n        emit WithdrawCancelled",
    "c.pendingWithdraw = 0;\n        c.unlockAt = 0;\n        emit WithdrawCancelled",
  ),
  escrow(
    "cancel-clears-pending",
    "cancel clears the pending amount",
    "c.pendingWithdraw = 0;\n        c.unlockAt = 0;\n        emit WithdrawCancelled",
    "c.unlockAt = 0;\n        emit WithdrawCancelled",
  ),
  escrow(
    "cancel-clears-unlock",
    "cancel clears the unlock time",
    "c.pendingWithdraw = 0;\n        c.unlockAt = 0;\n        emit WithdrawCancelled",
    "c.pendingWithdraw = 0;\n        emit WithdrawCancelled",
  ),
  escrow(
    "execute-nothing",
    "execute needs a pending request",
    "if (pending == 0) revert NoPendingWithdraw();\n        if (block.timestamp < c.unlockAt)",
    "if (block.timestamp < c.unlockAt)",
  ),
  escrow("execute-lock", "execute waits for the unlock time", "if (block.timestamp < c.unlockAt) revert WithdrawLocked(c.unlockAt);", ""),
  escrow(
    "execute-lock-boundary",
    "execute waits for the unlock time (one second early)",
    "if (block.timestamp < c.unlockAt) revert",
    "if (block.timestamp + 1 < c.unlockAt) revert",
  ),
  escrow(
    "execute-capped",
    "execute pays at most the channel balance",
    "uint128 amount = pending < balance ? pending : balance;",
    "uint128 amount = pending;",
  ),
  escrow(
    "execute-clears",
    "execute consumes the request",
    "c.balance = balance - amount;\n        c.pendingWithdraw = 0;",
    "c.balance = balance - amount;",
  ),

  // ------------------------------------------------------------------ Escrow: session keys and delegations
  escrow(
    "delegation-signer",
    "a delegation is signed by its user",
    "if (err != ECDSA.RecoverError.NoError || signer != d.user) revert BadDelegationSignature();",
    "",
  ),
  escrow(
    "delegation-nonce",
    "a delegation carries the current nonce",
    "if (d.nonce != expected) revert BadDelegationNonce(expected, d.nonce);",
    "",
  ),
  escrow("delegation-nonce-bump", "a delegation is used once", "delegationNonce[d.user] = expected + 1;", ""),
  escrow("revoke-unknown", "only an authorized key can be revoked", "if (l.validUntil == 0) revert KeyNotAuthorized();", ""),
  escrow("revoke-now", "revocation ends the key's signing now", "if (l.validUntil > nowTs) l.validUntil = nowTs;", ""),
  escrow("revoke-nonce", "revocation kills unsubmitted delegations", "delegationNonce[msg.sender] += 1;", ""),
  escrow(
    "key-provider-zero",
    "no key for the zero provider",
    "if (provider == address(0)) revert ZeroAddress();\n        if (key == address(0)",
    "if (key == address(0)",
  ),
  escrow(
    "key-zero",
    "a key is never zero",
    "if (key == address(0) || key == user || key == provider) revert InvalidKey();",
    "if (key == user || key == provider) revert InvalidKey();",
  ),
  escrow(
    "key-user",
    "a key is never the user",
    "if (key == address(0) || key == user || key == provider) revert InvalidKey();",
    "if (key == address(0) || key == provider) revert InvalidKey();",
  ),
  escrow(
    "key-provider",
    "a key is never the provider",
    "if (key == address(0) || key == user || key == provider) revert InvalidKey();",
    "if (key == address(0) || key == user) revert InvalidKey();",
  ),
  escrow("key-expiry", "a key's expiry is in the future", "if (validUntil <= block.timestamp) revert ValidUntilInPast(validUntil);", ""),
  escrow("key-cap-rises", "a lane's cap only rises", "if (cap < l.cap) revert CapDecrease(l.cap, cap);", ""),

  // ------------------------------------------------------------------ Escrow: settlement
  escrow("batch-empty", "no empty batch", "if (n == 0) revert EmptyBatch();", ""),
  escrow("batch-max", "at most MAX_BATCH vouchers", "if (n > MAX_BATCH) revert BatchTooLarge(n);", ""),
  escrow(
    "settle-bad-signature",
    "a voucher that does not recover pays nothing",
    "if (signer == address(0)) {\n            emit Skipped(user, provider, address(0), SkipReason.BadSignature);\n            return 0;\n        }",
    "",
  ),
  escrow(
    "owner-nothing-new",
    "an owner voucher pays only above what was settled",
    "if (cumulative <= settled) return _skip(user, provider, signer, SkipReason.NothingNew);",
    "",
  ),
  escrow(
    "owner-balance",
    "an owner voucher pays at most the balance",
    "uint128 pay = _payable(cumulative - settled, c.balance);",
    "uint128 pay = cumulative - settled;",
  ),
  escrow("owner-counter", "an owner voucher raises the settled counter", "c.ownerSettled = settled + pay;", ""),
  escrow(
    "key-not-delegated",
    "a stranger's voucher pays nothing",
    "if (validUntil == 0) return _skip(user, provider, signer, SkipReason.NotDelegated);",
    "",
  ),
  escrow(
    "key-lane-closed",
    "a key's vouchers settle only until validUntil + LOCK",
    "if (block.timestamp > uint256(validUntil) + LOCK) return _skip(user, provider, signer, SkipReason.LaneClosed);",
    "",
  ),
  escrow(
    "key-lane-grace",
    "a key's vouchers settle during LOCK after its expiry",
    "if (block.timestamp > uint256(validUntil) + LOCK)",
    "if (block.timestamp > uint256(validUntil))",
  ),
  escrow(
    "key-cap",
    "a key lane pays at most its cap",
    "uint128 limit = cumulative < l.cap ? cumulative : l.cap;",
    "uint128 limit = cumulative;",
  ),
  escrow(
    "key-nothing-new",
    "a key voucher pays only above its lane's settled",
    "if (limit <= laneSettled) return _skip(user, provider, signer, SkipReason.NothingNew);",
    "",
  ),
  escrow(
    "key-balance",
    "a key voucher pays at most the balance",
    "uint128 amount = _payable(limit - laneSettled, c.balance);",
    "uint128 amount = limit - laneSettled;",
  ),
  escrow("key-counter", "a key voucher raises its lane's settled", "l.settled = laneSettled + amount;", ""),
  escrow(
    "high-s",
    "no high-s (malleable) voucher signature",
    "malformed := or(malformed, gt(s, 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0))",
    "",
  ),
  escrow(
    "width-user",
    "a voucher's user word has no bits above 160",
    "or(or(shr(160, userWord), shr(64, nonce)), shr(128, cumulativeWord))",
    "or(shr(64, nonce), shr(128, cumulativeWord))",
  ),
  escrow(
    "width-nonce",
    "a voucher's nonce has no bits above 64",
    "or(or(shr(160, userWord), shr(64, nonce)), shr(128, cumulativeWord))",
    "or(shr(160, userWord), shr(128, cumulativeWord))",
  ),
  escrow(
    "width-cumulative",
    "a voucher's cumulative has no bits above 128",
    "or(or(shr(160, userWord), shr(64, nonce)), shr(128, cumulativeWord))",
    "or(shr(160, userWord), shr(64, nonce))",
  ),
  escrow("digest-provider", "the digest binds the batch's provider", "mstore(add(m, 0x40), provider)", "mstore(add(m, 0x40), 0)"),
  escrow("digest-terms", "the digest binds the terms hash", "mstore(add(m, 0xa0), calldataload(add(v, 0x60)))", "mstore(add(m, 0xa0), 0)"),
  escrow(
    "earnings-zero-to",
    "no earnings withdrawal to the zero address",
    "function withdrawEarnings(address payable to) external nonReentrant {\n        if (to == address(0)) revert ZeroAddress();",
    "function withdrawEarnings(address payable to) external nonReentrant {",
  ),
  escrow(
    "earnings-nothing",
    "no empty earnings withdrawal",
    "if (amount == 0) revert NothingToWithdraw();\n        earnings[msg.sender] = 0;",
    "earnings[msg.sender] = 0;",
  ),
  escrow(
    "earnings-cleared",
    "earnings are paid once",
    "earnings[msg.sender] = 0;\n        emit EarningsWithdrawn",
    "emit EarningsWithdrawn",
  ),
  escrow("send-checked", "a failed transfer reverts", "if (!ok) revert TransferFailed();", ""),

  // ------------------------------------------------------------------ ZkEscrow: deployment and mode switching
  zk(
    "zk-config-shape",
    "the circuit shape is not empty and the depth at most 32",
    "if (batch == 0 || queueSlots == 0 || depth == 0 || depth > 32) revert BadZkConfig();",
    "",
  ),
  zk(
    "zk-config-interval",
    "the proof interval is positive and at most half the lock",
    "if (proofInterval == 0 || uint256(proofInterval) * 2 > lock) revert BadZkConfig();",
    "",
  ),
  zk(
    "open-zero-provider",
    "no ZK channel to the zero address",
    "if (provider == address(0)) revert ZeroAddress();\n        if (provider == msg.sender) revert SelfChannel();\n        Channel storage c",
    "if (provider == msg.sender) revert SelfChannel();\n        Channel storage c",
  ),
  zk(
    "open-self",
    "no ZK channel to oneself",
    "if (provider == msg.sender) revert SelfChannel();\n        Channel storage c",
    "Channel storage c",
  ),
  zk(
    "open-empty-balance",
    "ZK mode needs an empty voucher channel",
    "if (c.balance != 0 || c.pendingWithdraw != 0) revert ChannelNotEmpty();",
    "if (c.pendingWithdraw != 0) revert ChannelNotEmpty();",
  ),
  zk(
    "open-no-pending",
    "ZK mode needs no pending voucher-mode withdrawal",
    "if (c.balance != 0 || c.pendingWithdraw != 0) revert ChannelNotEmpty();",
    "if (c.balance != 0) revert ChannelNotEmpty();",
  ),
  zk("open-twice", "an open ZK channel is not opened again", "if (z.active) revert ZkChannelOpen();", ""),
  zk("open-key-field", "the key is made of field elements", "if (ax >= FIELD || ay >= FIELD) revert InvalidZkKey();", ""),
  zk(
    "open-tree-full",
    "at most 2^depth channels per provider",
    "if (uint256(leafIndex) >= (uint256(1) << ZK_DEPTH)) revert TreeFull();",
    "",
  ),
  zk(
    "open-key-bound",
    "a channel's key is bound for good",
    "} else if (z.keyHash != keyHash) {\n            revert ZkKeyMismatch();\n        }",
    "}",
  ),
  zk(
    "voucher-funding-refused",
    "no voucher-mode funding of a ZK channel",
    "if (_zkChannels[user][provider].active) revert ChannelInZkMode();",
    "",
  ),

  // ------------------------------------------------------------------ ZkEscrow: deposits and the queue
  zk(
    "deposit-width",
    "a ZK deposit stays below 2^96",
    "if (msg.value > MAX_ZK_AMOUNT) revert ZkAmountTooLarge();\n        _zkDeposit",
    "_zkDeposit",
  ),
  zk(
    "zkfund-ledger",
    "a ZK funding is covered by the ledger",
    "if (amount > available) revert InsufficientLedger(available, amount);\n        ledger[msg.sender] = available - amount;\n        _zkDeposit",
    "ledger[msg.sender] = available - amount;\n        _zkDeposit",
  ),
  zk("zkfund-debit", "a ZK funding debits the ledger", "ledger[msg.sender] = available - amount;\n        _zkDeposit", "_zkDeposit"),
  zk(
    "zk-deposit-zero",
    "no empty ZK deposit",
    "if (amount == 0) revert ZeroAmount();\n        // Every queue entry",
    "// Every queue entry",
  ),
  zk("deposit-min", "every queue entry is at least MIN_FUND", "if (amount < MIN_FUND) revert BelowMinFund(amount, MIN_FUND);", ""),
  zk("deposit-active", "deposits only into an open ZK channel", "if (!z.active) revert ZkChannelNotActive();", ""),
  zk(
    "deposit-frozen",
    "no deposit into a frozen provider",
    "if (_isFrozen(provider, counters)) revert ZkFrozen();\n        // A bounded queue",
    "// A bounded queue",
  ),
  zk(
    "queue-cap",
    "a provider's queue holds at most ZK_QUEUE_MAX entries",
    "if (pending >= ZK_QUEUE_MAX) revert ZkQueueFull(pending, ZK_QUEUE_MAX);",
    "",
  ),
  zk(
    "queue-cap-boundary",
    "a provider's queue holds at most ZK_QUEUE_MAX entries (one more)",
    "if (pending >= ZK_QUEUE_MAX)",
    "if (pending > ZK_QUEUE_MAX)",
  ),
  zk(
    "queue-cap-size",
    "the queue bound is one interval short of the lock",
    "ZK_QUEUE_MAX = uint256(queueSlots) * (lock / proofInterval - 1);",
    "ZK_QUEUE_MAX = uint256(queueSlots) * (lock / proofInterval);",
  ),
  zk("deposit-pending", "one unconsumed deposit per channel", "if (z.lastDepositPos > counters.consumed) revert DepositPending();", ""),
  zk(
    "deposit-lifetime",
    "lifetime deposits stay below 2^96",
    "if (deposited > MAX_ZK_AMOUNT) revert ZkAmountTooLarge();\n        z.deposited",
    "z.deposited",
  ),
  zk("deposit-time", "each entry records its deposit time", "_zkQueueTime[provider][pos] = uint64(block.timestamp);", ""),

  // ------------------------------------------------------------------ ZkEscrow: settlement
  zk(
    "settle-field",
    "the new root and commitment are field elements",
    "if (newRoot >= FIELD || commitment >= FIELD) revert NotAFieldElement();",
    "",
  ),
  zk(
    "settle-data",
    "settlement data is whole 16-byte words, at most K",
    "if (data.length % 16 != 0 || data.length > uint256(ZK_BATCH) * 16) revert BadZkData();",
    "",
  ),
  zk(
    "settle-data-max",
    "settlement data holds at most K words",
    "if (data.length % 16 != 0 || data.length > uint256(ZK_BATCH) * 16) revert BadZkData();",
    "if (data.length % 16 != 0) revert BadZkData();",
  ),
  zk(
    "settle-frozen",
    "no proof lands on a frozen provider",
    "if (_isFrozen(provider, counters)) revert ZkFrozen();\n        uint64 fromPos",
    "uint64 fromPos",
  ),
  zk(
    "settle-consumes-q",
    "a proof consumes at most Q entries",
    "uint64 toPos = counters.length - fromPos > ZK_QUEUE_SLOTS ? fromPos + ZK_QUEUE_SLOTS : counters.length;",
    "uint64 toPos = counters.length;",
  ),
  zk(
    "settle-consumes-all-due",
    "a proof consumes min(pending, Q) entries",
    "uint64 toPos = counters.length - fromPos > ZK_QUEUE_SLOTS ? fromPos + ZK_QUEUE_SLOTS : counters.length;",
    "uint64 toPos = counters.length - fromPos > ZK_QUEUE_SLOTS ? fromPos + ZK_QUEUE_SLOTS - 1 : counters.length;",
  ),
  zk("settle-verifies", "a settlement needs a valid proof", "        ) revert InvalidProof();", "        ) {}"),
  zk(
    "settle-binds-amount",
    "the proof binds the amount",
    "                uint256(amount)\n            ],",
    "                uint256(0)\n            ],",
  ),
  zk("settle-binds-provider", "the proof binds the provider", "                uint256(uint160(provider)),", "                uint256(0),"),
  zk(
    "settle-binds-queue",
    "the proof binds the queue",
    "                newQueueHash,\n                uint256(toPos - fromPos),",
    "                newQueueHash,\n                uint256(0),",
  ),
  zk(
    "settle-binds-data",
    "the proof binds the per-user data",
    "uint256 r = uint256(keccak256(bytes.concat(abi.encode(header), data))) & type(uint128).max;",
    "uint256 r = uint256(keccak256(abi.encode(header))) & type(uint128).max;",
  ),
  zk("settle-earnings-width", "ZK earnings stay below 2^96", "if (earned > type(uint96).max) revert ZkAmountTooLarge();", ""),
  zk(
    "claim-nothing",
    "no empty ZK earnings claim",
    "if (amount == 0) revert NothingToWithdraw();\n        counters.earnings = 0;",
    "counters.earnings = 0;",
  ),
  zk(
    "claim-once",
    "ZK earnings are claimed once",
    "counters.earnings = 0;\n        earnings[msg.sender] += amount;",
    "earnings[msg.sender] += amount;",
  ),

  // ------------------------------------------------------------------ ZkEscrow: exits and the lock
  zk(
    "zk-request-zero",
    "no empty ZK withdrawal request",
    "if (amount == 0) revert ZeroAmount();\n        ZkChannel storage z = _zkChannels[msg.sender][provider];\n        if (z.keyHash == 0)",
    "ZkChannel storage z = _zkChannels[msg.sender][provider];\n        if (z.keyHash == 0)",
  ),
  zk("zk-request-channel", "a ZK withdrawal request needs a ZK channel", "if (z.keyHash == 0) revert ZkChannelNotActive();", ""),
  zk(
    "zk-request-restart",
    "every ZK request restarts the lock",
    "uint64 unlockAt = uint64(block.timestamp) + LOCK;\n        z.pendingWithdraw = amount;",
    "uint64 unlockAt = z.unlockAt != 0 ? z.unlockAt : uint64(block.timestamp) + LOCK;\n        z.pendingWithdraw = amount;",
  ),
  zk(
    "zk-request-lock-length",
    "a ZK request waits the whole lock",
    "uint64 unlockAt = uint64(block.timestamp) + LOCK;\n        z.pendingWithdraw = amount;",
    "uint64 unlockAt = uint64(block.timestamp) + LOCK / 2;\n        z.pendingWithdraw = amount;",
  ),
  zk(
    "zk-cancel-nothing",
    "a ZK cancel needs a pending request",
    "if (z.pendingWithdraw == 0) revert NoPendingWithdraw();\n        z.pendingWithdraw = 0;\n        z.unlockAt = 0;\n        emit ZkWithdrawCancelled",
    "z.pendingWithdraw = 0;\n        z.unlockAt = 0;\n        emit ZkWithdrawCancelled",
  ),
  zk(
    "zk-cancel-clears",
    "a ZK cancel clears the request",
    "z.pendingWithdraw = 0;\n        z.unlockAt = 0;\n        emit ZkWithdrawCancelled",
    "z.unlockAt = 0;\n        emit ZkWithdrawCancelled",
  ),
  zk(
    "zk-cancel-clears-unlock",
    "a ZK cancel clears the unlock time",
    "z.pendingWithdraw = 0;\n        z.unlockAt = 0;\n        emit ZkWithdrawCancelled",
    "z.pendingWithdraw = 0;\n        emit ZkWithdrawCancelled",
  ),
  zk(
    "zk-exit-nothing",
    "a ZK exit needs a pending request",
    "if (pending == 0) revert NoPendingWithdraw();\n        if (block.timestamp < z.unlockAt)",
    "if (block.timestamp < z.unlockAt)",
  ),
  zk("zk-exit-lock", "a ZK exit waits for the unlock time", "if (block.timestamp < z.unlockAt) revert WithdrawLocked(z.unlockAt);", ""),
  zk(
    "zk-exit-lock-boundary",
    "a ZK exit waits for the unlock time (one second early)",
    "if (block.timestamp < z.unlockAt) revert",
    "if (block.timestamp + 1 < z.unlockAt) revert",
  ),
  zk(
    "zk-exit-root",
    "a ZK exit proves its leaf under the current root",
    "if (_walk(POSEIDON.hash2(keyHash, uint256(funded) | (uint256(paid) << 96)), leafIndex, siblings) != root) {\n            revert BadMerkleProof();\n        }",
    "",
  ),
  zk(
    "zk-exit-capped",
    "a ZK exit pays at most funded - paid",
    "uint96 amount = pending < available ? pending : available;",
    "uint96 amount = pending;",
  ),
  zk(
    "zk-exit-rewrites-root",
    "a ZK exit rewrites the root",
    "_zkRoot[provider] = newRoot;\n        z.pendingWithdraw = 0;",
    "z.pendingWithdraw = 0;",
  ),
  zk(
    "zk-exit-clears",
    "a ZK exit consumes the request",
    "_zkRoot[provider] = newRoot;\n        z.pendingWithdraw = 0;",
    "_zkRoot[provider] = newRoot;",
  ),
  zk(
    "zk-exit-mode-queue",
    "a channel with a queued deposit stays in ZK mode",
    "if (newFunded == paid && z.active && z.lastDepositPos <= _zkCounters[provider].consumed) {",
    "if (newFunded == paid && z.active) {",
  ),
  zk(
    "zk-exit-mode-empty",
    "only an emptied channel leaves ZK mode",
    "if (newFunded == paid && z.active && z.lastDepositPos <= _zkCounters[provider].consumed) {",
    "if (z.active && z.lastDepositPos <= _zkCounters[provider].consumed) {",
  ),
  zk("reclaim-frozen", "deposits are reclaimed only from a frozen provider", "if (!_isFrozen(provider, counters)) revert NotFrozen();", ""),
  zk(
    "reclaim-unconsumed",
    "only a deposit that never reached the tree is reclaimed",
    "if (z.lastDepositPos <= counters.consumed) revert NothingToReclaim();",
    "",
  ),
  zk("reclaim-once", "a deposit is reclaimed once", "z.lastDepositPos = 0;\n        z.lastDepositAmount = 0;", "z.lastDepositAmount = 0;"),
  zk(
    "frozen-wait",
    "frozen only after the oldest deposit waited the whole lock",
    "&& block.timestamp >= uint256(_zkQueueTime[provider][counters.consumed]) + LOCK;",
    "&& block.timestamp >= uint256(_zkQueueTime[provider][counters.consumed]) + LOCK / 2;",
  ),
  zk(
    "frozen-pending",
    "frozen only with a deposit waiting",
    "return counters.consumed < counters.length\n            && block.timestamp",
    "return block.timestamp",
  ),

  // ------------------------------------------------------------------ ServiceRegistry
  registry(
    "unbond-delay-min",
    "the unbond delay is at least twice the lock",
    "if (unbondDelay < 2 * lock) revert UnbondTooShort(unbondDelay, lock);",
    "",
  ),
  registry(
    "terms-delay-min",
    "the terms delay is at least the lock",
    "if (termsDelay < lock) revert TermsDelayTooShort(termsDelay, lock);",
    "",
  ),
  registry("stake-once", "a provider stakes once", "if (p.staked) revert AlreadyStaked();", ""),
  registry("stake-exact", "the bond is exactly STAKE", "if (msg.value != STAKE) revert WrongStake(STAKE, msg.value);", ""),
  registry(
    "unbond-staked",
    "only a staked provider unbonds",
    "if (!p.staked) revert NotStaked();\n        if (p.unbondAt != 0) revert Unbonding(p.unbondAt);\n        uint64 unbondAt",
    "if (p.unbondAt != 0) revert Unbonding(p.unbondAt);\n        uint64 unbondAt",
  ),
  registry(
    "unbond-once",
    "unbonding does not restart",
    "if (p.unbondAt != 0) revert Unbonding(p.unbondAt);\n        uint64 unbondAt",
    "uint64 unbondAt",
  ),
  registry(
    "unbond-delay",
    "unbonding waits UNBOND_DELAY",
    "uint64 unbondAt = uint64(block.timestamp) + UNBOND_DELAY;",
    "uint64 unbondAt = uint64(block.timestamp);",
  ),
  registry(
    "withdraw-stake-to",
    "no bond withdrawal to the zero address",
    "if (to == address(0)) revert ZeroAddress();\n        ProviderInfo storage p = _providers[msg.sender];\n        if (p.unbondAt == 0)",
    "ProviderInfo storage p = _providers[msg.sender];\n        if (p.unbondAt == 0)",
  ),
  registry("withdraw-stake-unbonding", "the bond leaves only after unbonding", "if (p.unbondAt == 0) revert NotUnbonding();", ""),
  registry(
    "withdraw-stake-delay",
    "the bond leaves only after the delay",
    "if (block.timestamp < p.unbondAt) revert StillBonded(p.unbondAt);",
    "",
  ),
  registry(
    "withdraw-stake-boundary",
    "the bond leaves only after the delay (one second early)",
    "if (block.timestamp < p.unbondAt) revert",
    "if (block.timestamp + 1 < p.unbondAt) revert",
  ),
  registry(
    "withdraw-stake-services",
    "withdrawing the bond removes the services",
    "while (p.serviceIds.length != 0) {\n            _remove(msg.sender, p.serviceIds[p.serviceIds.length - 1]);\n        }",
    "",
  ),
  registry("withdraw-stake-once", "the bond is paid once", "p.staked = false;\n        p.stake = 0;", "p.staked = false;"),
  registry(
    "withdraw-stake-checked",
    "a failed bond transfer reverts",
    '(bool ok,) = to.call{value: amount}("");\n        if (!ok) revert TransferFailed();',
    'to.call{value: amount}("");',
  ),
  registry(
    "add-active",
    "only an active provider adds services",
    "function addService(ServiceInput calldata input) external returns (bytes32 id) {\n        _requireActiveProvider(msg.sender);",
    "function addService(ServiceInput calldata input) external returns (bytes32 id) {",
  ),
  registry(
    "add-validated",
    "added services are validated",
    "_requireActiveProvider(msg.sender);\n        _validate(input);",
    "_requireActiveProvider(msg.sender);",
  ),
  registry(
    "add-max",
    "at most MAX_SERVICES_PER_PROVIDER services",
    "if (p.serviceIds.length >= MAX_SERVICES_PER_PROVIDER) revert TooManyServices();",
    "",
  ),
  registry("add-unique", "a service id is listed once", "if (_indexPlusOne[id] != 0) revert ServiceExists(id);", ""),
  registry("add-version", "versions never repeat across removal", "s.version = _lastVersion[id] + 1;", "s.version = 1;"),
  registry(
    "update-validated",
    "updated services are validated",
    "Record storage s = _owned(id);\n        _validate(input);",
    "Record storage s = _owned(id);",
  ),
  registry(
    "update-name",
    "a service's name is immutable",
    "if (keccak256(bytes(input.name)) != keccak256(bytes(s.name))) revert NameImmutable();",
    "",
  ),
  registry("update-signer-previous", "a rotated signer stays valid for receipts in flight", "s.previousSigner = s.signer;", ""),
  registry(
    "update-increase-delayed",
    "a price increase waits TERMS_DELAY",
    "if (sameModel && next.inputPrice <= cur.inputPrice && next.outputPrice <= cur.outputPrice) {",
    "if (sameModel) {",
  ),
  registry(
    "update-model-delayed",
    "a model change waits TERMS_DELAY",
    "if (sameModel && next.inputPrice <= cur.inputPrice && next.outputPrice <= cur.outputPrice) {",
    "if (next.inputPrice <= cur.inputPrice && next.outputPrice <= cur.outputPrice) {",
  ),
  registry(
    "update-output-increase-delayed",
    "an output price increase waits TERMS_DELAY",
    "next.inputPrice <= cur.inputPrice && next.outputPrice <= cur.outputPrice",
    "next.inputPrice <= cur.inputPrice",
  ),
  registry(
    "update-delay-length",
    "scheduled terms apply after TERMS_DELAY",
    "uint64 effectiveAt = uint64(block.timestamp) + TERMS_DELAY;",
    "uint64 effectiveAt = uint64(block.timestamp) + TERMS_DELAY / 2;",
  ),
  registry(
    "update-version-reserved",
    "an announced version is reserved",
    "s.pendingVersion = _bumpVersion(id);",
    "s.pendingVersion = s.version + 1;",
  ),
  registry("update-same-model-hash", "a model-hash change is a model change", "&& next.modelHash == cur.modelHash", ""),
  registry(
    "owned-known",
    "only a listed service is changed",
    "if (_indexPlusOne[id] == 0) revert UnknownService(id);\n        s = _services[id];",
    "s = _services[id];",
  ),
  registry("owned-owner", "only its provider changes a service", "if (s.provider != msg.sender) revert NotServiceOwner(id);", ""),
  registry(
    "roll-time",
    "scheduled terms apply only once due",
    "if (s.pendingAt != 0 && block.timestamp >= s.pendingAt) {\n            s.terms = s.pending;",
    "if (s.pendingAt != 0) {\n            s.terms = s.pending;",
  ),
  registry(
    "view-time",
    "views show scheduled terms only once due",
    "if (s.pendingAt != 0 && block.timestamp >= s.pendingAt) {\n            // The scheduled change",
    "if (s.pendingAt != 0) {\n            // The scheduled change",
  ),
  registry(
    "active-unbonding",
    "an unbonding provider's services are inactive",
    "v.active = p.staked && p.unbondAt == 0;",
    "v.active = p.staked;",
  ),
  registry(
    "require-active-unbonding",
    "an unbonding provider adds no services",
    "if (unbondAt != 0) revert Unbonding(unbondAt);\n    }",
    "}",
  ),
  registry("validate-name", "a name is 1 to MAX_NAME bytes", '_length("name", bytes(input.name).length, 1, MAX_NAME);', ""),
  registry("validate-model", "a model is 1 to MAX_MODEL bytes", '_length("model", bytes(input.model).length, 1, MAX_MODEL);', ""),
  registry(
    "validate-quantization",
    "a quantization is at most MAX_QUANTIZATION bytes",
    '_length("quantization", bytes(input.quantization).length, 0, MAX_QUANTIZATION);',
    "",
  ),
  registry(
    "validate-endpoint",
    "an endpoint is 1 to MAX_ENDPOINT bytes",
    '_length("endpoint", bytes(input.endpoint).length, 1, MAX_ENDPOINT);',
    "",
  ),
  registry(
    "validate-metadata",
    "metadata is at most MAX_METADATA bytes",
    '_length("metadata", bytes(input.metadata).length, 0, MAX_METADATA);',
    "",
  ),
  registry("validate-signer", "a response signer is never zero", "if (input.signer == address(0)) revert ZeroSigner();", ""),
  registry(
    "length-min",
    "fields have their minimum length",
    "if (length < min || length > max) revert FieldLength(field, length);",
    "if (length > max) revert FieldLength(field, length);",
  ),
  registry(
    "length-max",
    "fields have their maximum length",
    "if (length < min || length > max) revert FieldLength(field, length);",
    "if (length < min) revert FieldLength(field, length);",
  ),
  registry(
    "page-max",
    "a page holds at most MAX_PAGE services",
    "uint256 total = _serviceIds.length;\n        if (limit > MAX_PAGE) limit = MAX_PAGE;",
    "uint256 total = _serviceIds.length;",
  ),
  registry(
    "page-max-providers",
    "a page holds at most MAX_PAGE providers",
    "uint256 total = _providerList.length;\n        if (limit > MAX_PAGE) limit = MAX_PAGE;",
    "uint256 total = _providerList.length;",
  ),
];

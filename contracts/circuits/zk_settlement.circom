pragma circom 2.1.5;

// ZK-compressed settlement for 0G Compute (see docs/zk-settlement.md for the statement and every
// constraint's reason). One proof moves a provider's channel tree from `oldRoot` to `newRoot` by
//   1. consuming the next `nQueue` (<= Q) on-chain queue entries (deposits, which open a leaf with the
//      user's key on first use), then
//   2. applying up to K user-signed EdDSA-Poseidon vouchers, each paying min(cumulative, funded) - paid.
// Everything the contract must check is folded into ONE public input by a Fiat-Shamir polynomial
// identity (a Poseidon commitment in the circuit, keccak and a Horner evaluation on-chain).
//
// Leaf  = Poseidon(keyHash, funded + paid * 2^96), keyHash = Poseidon(Ax, Ay); empty leaf = Poseidon(0, 0)
// Node  = Poseidon(left, right)
// Queue = Poseidon(prevQueueHash, keyHash, leafIndex + amount * 2^32)
// Voucher message = Poseidon(domain, leafIndex, cumulative), domain = Poseidon(chainId, contract, provider)

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/eddsaposeidon.circom";
include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";

// Checks `oldLeaf` at the path given by `bits` under `oldRoot`, and computes the root with `newLeaf`
// at the same place. `bits` must be boolean (the caller takes them from Num2Bits).
template MerkleUpdate(D) {
    signal input oldLeaf;
    signal input newLeaf;
    signal input bits[D];
    signal input siblings[D];
    signal output oldRoot;
    signal output newRoot;

    signal oc[D + 1];
    signal nc[D + 1];
    signal oLeft[D];
    signal nLeft[D];
    component ho[D];
    component hn[D];
    oc[0] <== oldLeaf;
    nc[0] <== newLeaf;
    for (var i = 0; i < D; i++) {
        // bit 0: current node is the left child; bit 1: the right child
        oLeft[i] <== oc[i] + bits[i] * (siblings[i] - oc[i]);
        nLeft[i] <== nc[i] + bits[i] * (siblings[i] - nc[i]);
        ho[i] = Poseidon(2);
        ho[i].inputs[0] <== oLeft[i];
        ho[i].inputs[1] <== siblings[i] + oc[i] - oLeft[i];
        hn[i] = Poseidon(2);
        hn[i].inputs[0] <== nLeft[i];
        hn[i].inputs[1] <== siblings[i] + nc[i] - nLeft[i];
        oc[i + 1] <== ho[i].out;
        nc[i + 1] <== hn[i].out;
    }
    oldRoot <== oc[D];
    newRoot <== nc[D];
}

// One on-chain queue entry (a deposit) applied to the tree and to the queue hash chain.
template QueueSlot(D) {
    signal input active;        // 1 for the first nQueue slots, else 0 (set by the header)
    signal input root;
    signal input queueHash;
    signal input leafIndex;
    signal input keyHash;
    signal input amount;
    signal input oldKeyHash;    // leaf before: 0 for a never-used leaf
    signal input oldPacked;     // funded + paid * 2^96 before
    signal input siblings[D];
    signal output newRoot;
    signal output newQueueHash;

    component idx = Num2Bits(D);
    idx.in <== leafIndex;
    // An amount of 96 bits keeps leafIndex + amount * 2^32 a unique packing, and funded below 2^96.
    component amountBits = Num2Bits(96);
    amountBits.in <== amount;

    component chain = Poseidon(3);
    chain.inputs[0] <== queueHash;
    chain.inputs[1] <== keyHash;
    chain.inputs[2] <== leafIndex + amount * (1 << 32);
    newQueueHash <== queueHash + active * (chain.out - queueHash);

    // The key is set by the first entry and never changes.
    oldKeyHash * (oldKeyHash - keyHash) === 0;

    component oldLeaf = Poseidon(2);
    oldLeaf.inputs[0] <== oldKeyHash;
    oldLeaf.inputs[1] <== oldPacked;
    component newLeaf = Poseidon(2);
    newLeaf.inputs[0] <== keyHash;
    newLeaf.inputs[1] <== oldPacked + amount;   // funded += amount; paid unchanged

    component mu = MerkleUpdate(D);
    mu.oldLeaf <== oldLeaf.out;
    mu.newLeaf <== newLeaf.out;
    for (var i = 0; i < D; i++) {
        mu.bits[i] <== idx.out[i];
        mu.siblings[i] <== siblings[i];
    }
    (mu.oldRoot - root) * active === 0;
    newRoot <== root + active * (mu.newRoot - root);
}

// One user's newest voucher applied to its leaf.
template VoucherSlot(D) {
    signal input active;
    signal input root;
    signal input domain;
    signal input leafIndex;
    signal input siblings[D];
    signal input funded;
    signal input oldPaid;
    signal input cumulative;
    signal input Ax;
    signal input Ay;
    signal input S;
    signal input R8x;
    signal input R8y;
    signal output newRoot;
    signal output delta;
    signal output da;

    active * (active - 1) === 0;

    component idx = Num2Bits(D);
    idx.in <== leafIndex;

    // 96-bit ranges make funded + paid * 2^96 a unique packing and the comparisons sound.
    component fundedBits = Num2Bits(96);
    fundedBits.in <== funded;
    component oldPaidBits = Num2Bits(96);
    oldPaidBits.in <== oldPaid;
    component cumulativeBits = Num2Bits(96);
    cumulativeBits.in <== cumulative;

    // newPaid = min(cumulative, funded): never more than signed, never more than deposited.
    component lt = LessThan(96);
    lt.in[0] <== cumulative;
    lt.in[1] <== funded;
    signal newPaid;
    newPaid <== funded + lt.out * (cumulative - funded);

    // Paid never goes down: a stale or reordered voucher cannot be applied (and cannot underflow).
    component ge = GreaterEqThan(96);
    ge.in[0] <== newPaid;
    ge.in[1] <== oldPaid;
    (ge.out - 1) * active === 0;

    component keyHash = Poseidon(2);
    keyHash.inputs[0] <== Ax;
    keyHash.inputs[1] <== Ay;

    component oldLeaf = Poseidon(2);
    oldLeaf.inputs[0] <== keyHash.out;
    oldLeaf.inputs[1] <== funded + oldPaid * (1 << 96);
    component newLeaf = Poseidon(2);
    newLeaf.inputs[0] <== keyHash.out;
    newLeaf.inputs[1] <== funded + newPaid * (1 << 96);

    component mu = MerkleUpdate(D);
    mu.oldLeaf <== oldLeaf.out;
    mu.newLeaf <== newLeaf.out;
    for (var i = 0; i < D; i++) {
        mu.bits[i] <== idx.out[i];
        mu.siblings[i] <== siblings[i];
    }
    // The key that signs is the key in the user's leaf (bound to its address on-chain).
    (mu.oldRoot - root) * active === 0;
    newRoot <== root + active * (mu.newRoot - root);

    // The signed message binds chain, contract and provider (domain), the user's leaf and the amount.
    component msg = Poseidon(3);
    msg.inputs[0] <== domain;
    msg.inputs[1] <== leafIndex;
    msg.inputs[2] <== cumulative;

    component sig = EdDSAPoseidonVerifier();
    sig.enabled <== active;
    sig.Ax <== Ax;
    sig.Ay <== Ay;
    sig.S <== S;
    sig.R8x <== R8x;
    sig.R8y <== R8y;
    sig.M <== msg.out;

    delta <== active * (newPaid - oldPaid);
    // Data-availability word posted on-chain: leafIndex (32 bits) | newPaid (96 bits); 0 when inactive.
    da <== active * (leafIndex + newPaid * (1 << 32));
}

// Poseidon sponge over n elements, 15 per permutation (width 17).
template Commit(n) {
    signal input in[n];
    signal output out;
    var rounds = (n + 14) \ 15;
    component h[rounds];
    for (var r = 0; r < rounds; r++) {
        h[r] = Poseidon(16);
        h[r].inputs[0] <== r == 0 ? 0 : h[r - 1].out;
        for (var j = 0; j < 15; j++) {
            var k = r * 15 + j;
            h[r].inputs[j + 1] <== k < n ? in[k] : 0;
        }
    }
    out <== h[rounds - 1].out;
}

template ZkSettlement(K, Q, D) {
    // The only public input: r (128 bits) | low 125 bits of P(r) << 128, computed by the contract.
    signal input pub;

    signal input commitment;   // w0 = Poseidon sponge of w1..wm
    signal input oldRoot;      // w1
    signal input newRoot;      // w2
    signal input oldQueueHash; // w3
    signal input newQueueHash; // w4
    signal input nQueue;       // w5
    signal input chainId;      // w6
    signal input contractAddr; // w7
    signal input provider;     // w8
    signal input amount;       // w9 (total paid to the provider by this batch)

    signal input qLeafIndex[Q];
    signal input qKeyHash[Q];
    signal input qAmount[Q];
    signal input qOldKeyHash[Q];
    signal input qOldPacked[Q];
    signal input qSiblings[Q][D];

    signal input vActive[K];
    signal input vLeafIndex[K];
    signal input vSiblings[K][D];
    signal input vFunded[K];
    signal input vOldPaid[K];
    signal input vCumulative[K];
    signal input vAx[K];
    signal input vAy[K];
    signal input vS[K];
    signal input vR8x[K];
    signal input vR8y[K];

    component domain = Poseidon(3);
    domain.inputs[0] <== chainId;
    domain.inputs[1] <== contractAddr;
    domain.inputs[2] <== provider;

    // Queue slots: exactly the first nQueue are active (the contract sets nQueue = min(pending, Q)).
    component nQueueBits = Num2Bits(16);
    nQueueBits.in <== nQueue;
    component qLt[Q];
    component qs[Q];
    signal roots[Q + K + 1];
    signal qh[Q + 1];
    roots[0] <== oldRoot;
    qh[0] <== oldQueueHash;
    for (var j = 0; j < Q; j++) {
        qLt[j] = LessThan(16);
        qLt[j].in[0] <== j;
        qLt[j].in[1] <== nQueue;
        qs[j] = QueueSlot(D);
        qs[j].active <== qLt[j].out;
        qs[j].root <== roots[j];
        qs[j].queueHash <== qh[j];
        qs[j].leafIndex <== qLeafIndex[j];
        qs[j].keyHash <== qKeyHash[j];
        qs[j].amount <== qAmount[j];
        qs[j].oldKeyHash <== qOldKeyHash[j];
        qs[j].oldPacked <== qOldPacked[j];
        for (var i = 0; i < D; i++) qs[j].siblings[i] <== qSiblings[j][i];
        roots[j + 1] <== qs[j].newRoot;
        qh[j + 1] <== qs[j].newQueueHash;
    }
    // nQueue <= Q
    component nQueueMax = LessThan(16);
    nQueueMax.in[0] <== nQueue;
    nQueueMax.in[1] <== Q + 1;
    nQueueMax.out === 1;
    qh[Q] === newQueueHash;

    component vs[K];
    signal paid[K + 1];
    paid[0] <== 0;
    for (var k = 0; k < K; k++) {
        vs[k] = VoucherSlot(D);
        vs[k].active <== vActive[k];
        vs[k].root <== roots[Q + k];
        vs[k].domain <== domain.out;
        vs[k].leafIndex <== vLeafIndex[k];
        for (var i = 0; i < D; i++) vs[k].siblings[i] <== vSiblings[k][i];
        vs[k].funded <== vFunded[k];
        vs[k].oldPaid <== vOldPaid[k];
        vs[k].cumulative <== vCumulative[k];
        vs[k].Ax <== vAx[k];
        vs[k].Ay <== vAy[k];
        vs[k].S <== vS[k];
        vs[k].R8x <== vR8x[k];
        vs[k].R8y <== vR8y[k];
        roots[Q + k + 1] <== vs[k].newRoot;
        paid[k + 1] <== paid[k] + vs[k].delta;
    }
    roots[Q + K] === newRoot;
    paid[K] === amount;

    // Commitment to every value the contract will check, made before the challenge r exists.
    var M = 9 + K;
    component commit = Commit(M);
    commit.in[0] <== oldRoot;
    commit.in[1] <== newRoot;
    commit.in[2] <== oldQueueHash;
    commit.in[3] <== newQueueHash;
    commit.in[4] <== nQueue;
    commit.in[5] <== chainId;
    commit.in[6] <== contractAddr;
    commit.in[7] <== provider;
    commit.in[8] <== amount;
    for (var k = 0; k < K; k++) commit.in[9 + k] <== vs[k].da;
    commit.out === commitment;

    // P(r) = sum w_j r^j over w = (commitment, commit.in...), by Horner from the top coefficient.
    component pubBits = Num2Bits(253);
    pubBits.in <== pub;
    var r = 0;
    var e2 = 1;
    for (var i = 0; i < 128; i++) {
        r += pubBits.out[i] * e2;
        e2 = e2 + e2;
    }
    signal rr;
    rr <== r;
    signal acc[M + 1];
    acc[0] <== commit.in[M - 1];
    for (var j = 1; j < M; j++) {
        acc[j] <== acc[j - 1] * rr + commit.in[M - 1 - j];
    }
    acc[M] <== acc[M - 1] * rr + commitment;
    component evalBits = Num2Bits_strict();
    evalBits.in <== acc[M];
    var lhs = 0;
    var rhs = 0;
    e2 = 1;
    for (var i = 0; i < 125; i++) {
        lhs += evalBits.out[i] * e2;
        rhs += pubBits.out[128 + i] * e2;
        e2 = e2 + e2;
    }
    lhs === rhs;
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice BENCHMARKS AND TESTS ONLY: a stand-in for the settlement verifier that accepts every proof. The
/// ZK gas bench settles batches of any size K with it and adds the real verifier's cost, measured
/// separately on a real proof, so that gas per user can be measured for K whose keys are too slow to set
/// up here; tests of the queue and lock rules settle with it without proving.
contract AcceptingVerifier {
    function verifyProof(uint256[2] calldata, uint256[2][2] calldata, uint256[2] calldata, uint256[1] calldata)
        external
        pure
        returns (bool)
    {
        return true;
    }
}

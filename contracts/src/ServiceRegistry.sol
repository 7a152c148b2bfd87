// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @notice The escrow's immutable withdrawal lock, read once at deploy.
interface IEscrowLock {
    function LOCK() external view returns (uint64);
}

/// @title 0G Compute service registry
/// @notice Providers post a listing bond (`STAKE`), then register services: a model, its file hash and
/// quantization, an endpoint, input and output prices per token in wei, a response-signing address and
/// bounded metadata. Every change of billing terms gets a new `version`; price increases and model
/// changes take effect only `TERMS_DELAY` after they are announced, so a user who disagrees can leave
/// its channel first. The bond unbonds after `UNBOND_DELAY` (at least twice the escrow's lock).
/// @dev Settlement never reads this contract: vouchers stay payable whatever happens to a listing.
contract ServiceRegistry is ReentrancyGuard {
    // ---------------------------------------------------------------- types

    /// @notice The billing terms of a service; any change bumps the version.
    struct Terms {
        string model;
        bytes32 modelHash;
        string quantization;
        uint128 inputPrice;
        uint128 outputPrice;
    }

    /// @notice What a provider submits to add or update a service.
    struct ServiceInput {
        string name;
        string model;
        bytes32 modelHash;
        string quantization;
        string endpoint;
        uint128 inputPrice;
        uint128 outputPrice;
        address signer;
        string metadata;
    }

    /// @notice A service as clients see it, with the terms in force now and any scheduled change.
    struct ServiceView {
        bytes32 id;
        address provider;
        string name;
        string endpoint;
        address signer;
        address previousSigner;
        uint64 rotatedAt;
        string metadata;
        Terms terms;
        uint32 version;
        Terms pendingTerms;
        uint32 pendingVersion;
        uint64 pendingAt;
        bool active;
        uint64 updatedAt;
    }

    struct Record {
        address provider;
        string name;
        string endpoint;
        address signer;
        address previousSigner;
        uint64 rotatedAt;
        string metadata;
        Terms terms;
        uint32 version;
        Terms pending;
        uint32 pendingVersion;
        uint64 pendingAt;
        uint64 updatedAt;
    }

    struct ProviderInfo {
        bool staked;
        uint256 stake;
        uint64 unbondAt;
        bytes32[] serviceIds;
    }

    // ---------------------------------------------------------------- constants

    uint256 public constant MAX_SERVICES_PER_PROVIDER = 16;
    uint256 public constant MAX_NAME = 64;
    uint256 public constant MAX_MODEL = 128;
    uint256 public constant MAX_QUANTIZATION = 32;
    uint256 public constant MAX_ENDPOINT = 256;
    uint256 public constant MAX_METADATA = 2048;
    uint256 public constant MAX_PAGE = 100;

    /// @notice Listing bond a provider posts before registering services.
    uint256 public immutable STAKE;
    /// @notice Seconds from `requestUnbond` to `withdrawStake`; at least twice the escrow lock.
    uint64 public immutable UNBOND_DELAY;
    /// @notice Seconds between announcing a price increase or model change and its effect; at least the lock.
    uint64 public immutable TERMS_DELAY;
    /// @notice The escrow whose lock these delays are measured against.
    address public immutable ESCROW;

    // ---------------------------------------------------------------- state

    mapping(bytes32 id => Record) private _services;
    mapping(bytes32 id => uint256) private _indexPlusOne; // position in _serviceIds, plus one
    mapping(bytes32 id => uint32) private _lastVersion; // survives removal, so versions never repeat
    bytes32[] private _serviceIds;
    mapping(address provider => ProviderInfo) private _providers;
    address[] private _providerList;
    mapping(address provider => bool) private _known; // ever staked: in _providerList once

    // ---------------------------------------------------------------- events

    event ProviderStaked(address indexed provider, uint256 amount);
    event UnbondRequested(address indexed provider, uint64 unbondAt);
    event StakeWithdrawn(address indexed provider, address to, uint256 amount);
    /// @notice Emitted on every add and update with the full service, so a catalogue can be rebuilt from logs.
    event ServiceChanged(address indexed provider, bytes32 indexed id, uint32 version, ServiceView service);
    event TermsScheduled(address indexed provider, bytes32 indexed id, uint32 version, uint64 effectiveAt, Terms terms);
    event SignerRotated(address indexed provider, bytes32 indexed id, address previousSigner, address signer);
    event ServiceRemoved(address indexed provider, bytes32 indexed id);

    // ---------------------------------------------------------------- errors

    error UnbondTooShort(uint64 unbondDelay, uint64 lock);
    error TermsDelayTooShort(uint64 termsDelay, uint64 lock);
    error WrongStake(uint256 expected, uint256 got);
    error AlreadyStaked();
    error NotStaked();
    error Unbonding(uint64 unbondAt);
    error NotUnbonding();
    error StillBonded(uint64 unbondAt);
    error TooManyServices();
    error ServiceExists(bytes32 id);
    error UnknownService(bytes32 id);
    error NotServiceOwner(bytes32 id);
    error FieldLength(string field, uint256 length);
    error ZeroSigner();
    error NameImmutable();
    error ZeroAddress();
    error TransferFailed();

    /// @param escrow the escrow contract; its `LOCK` bounds both delays from below
    /// @param bond listing bond in wei
    /// @param unbondDelay seconds before a bond can leave, at least `2 * LOCK`
    /// @param termsDelay seconds before a price increase or model change applies, at least `LOCK`
    constructor(address escrow, uint256 bond, uint64 unbondDelay, uint64 termsDelay) {
        uint64 lock = IEscrowLock(escrow).LOCK();
        if (unbondDelay < 2 * lock) revert UnbondTooShort(unbondDelay, lock);
        if (termsDelay < lock) revert TermsDelayTooShort(termsDelay, lock);
        ESCROW = escrow;
        STAKE = bond;
        UNBOND_DELAY = unbondDelay;
        TERMS_DELAY = termsDelay;
    }

    // ---------------------------------------------------------------- provider bond

    /// @notice Post the listing bond; `msg.value` must equal `STAKE`.
    function stake() external payable {
        ProviderInfo storage p = _providers[msg.sender];
        if (p.staked) revert AlreadyStaked();
        if (msg.value != STAKE) revert WrongStake(STAKE, msg.value);
        p.staked = true;
        p.stake = msg.value;
        p.unbondAt = 0;
        if (!_known[msg.sender]) {
            _known[msg.sender] = true;
            _providerList.push(msg.sender);
        }
        emit ProviderStaked(msg.sender, msg.value);
    }

    /// @notice Start unbonding: the provider's services turn inactive now; the bond leaves after `UNBOND_DELAY`.
    function requestUnbond() external {
        ProviderInfo storage p = _providers[msg.sender];
        if (!p.staked) revert NotStaked();
        if (p.unbondAt != 0) revert Unbonding(p.unbondAt);
        uint64 unbondAt = uint64(block.timestamp) + UNBOND_DELAY;
        p.unbondAt = unbondAt;
        emit UnbondRequested(msg.sender, unbondAt);
    }

    /// @notice After unbonding, remove every service and send the bond to `to`.
    function withdrawStake(address payable to) external nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        ProviderInfo storage p = _providers[msg.sender];
        if (p.unbondAt == 0) revert NotUnbonding();
        if (block.timestamp < p.unbondAt) revert StillBonded(p.unbondAt);
        while (p.serviceIds.length != 0) {
            _remove(msg.sender, p.serviceIds[p.serviceIds.length - 1]);
        }
        uint256 amount = p.stake;
        p.staked = false;
        p.stake = 0;
        p.unbondAt = 0;
        emit StakeWithdrawn(msg.sender, to, amount);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    // ---------------------------------------------------------------- services

    /// @notice The id of `provider`'s service called `name`.
    function serviceId(address provider, string memory name) public pure returns (bytes32) {
        return keccak256(abi.encode(provider, name));
    }

    /// @notice Register a new service (version 1, or one above any earlier service of the same id).
    /// @return id the service id, `serviceId(msg.sender, input.name)`
    function addService(ServiceInput calldata input) external returns (bytes32 id) {
        _requireActiveProvider(msg.sender);
        _validate(input);
        ProviderInfo storage p = _providers[msg.sender];
        if (p.serviceIds.length >= MAX_SERVICES_PER_PROVIDER) revert TooManyServices();
        id = serviceId(msg.sender, input.name);
        if (_indexPlusOne[id] != 0) revert ServiceExists(id);

        Record storage s = _services[id];
        s.provider = msg.sender;
        s.name = input.name;
        s.endpoint = input.endpoint;
        s.signer = input.signer;
        s.metadata = input.metadata;
        s.terms = _termsOf(input);
        s.version = _lastVersion[id] + 1;
        _lastVersion[id] = s.version;
        s.updatedAt = uint64(block.timestamp);

        _serviceIds.push(id);
        _indexPlusOne[id] = _serviceIds.length;
        p.serviceIds.push(id);
        emit ServiceChanged(msg.sender, id, s.version, _view(id));
    }

    /// @notice Update a service. Endpoint, metadata and price decreases apply at once; a new signer keeps
    /// the previous one valid for receipts in flight (`previousSigner`, `rotatedAt`); a price increase or a
    /// model change is scheduled `TERMS_DELAY` ahead (replacing any change still pending).
    function updateService(bytes32 id, ServiceInput calldata input) external {
        Record storage s = _owned(id);
        _validate(input);
        if (keccak256(bytes(input.name)) != keccak256(bytes(s.name))) revert NameImmutable();
        _roll(s);

        s.endpoint = input.endpoint;
        s.metadata = input.metadata;
        if (input.signer != s.signer) {
            emit SignerRotated(msg.sender, id, s.signer, input.signer);
            s.previousSigner = s.signer;
            s.rotatedAt = uint64(block.timestamp);
            s.signer = input.signer;
        }

        Terms memory next = _termsOf(input);
        Terms storage cur = s.terms;
        bool sameModel = keccak256(bytes(next.model)) == keccak256(bytes(cur.model)) && next.modelHash == cur.modelHash
            && keccak256(bytes(next.quantization)) == keccak256(bytes(cur.quantization));
        bool samePrices = next.inputPrice == cur.inputPrice && next.outputPrice == cur.outputPrice;
        if (!(sameModel && samePrices)) {
            if (sameModel && next.inputPrice <= cur.inputPrice && next.outputPrice <= cur.outputPrice) {
                // A pure decrease helps every user: apply at once and drop any pending change.
                s.terms = next;
                s.version = _bumpVersion(id);
                s.pendingAt = 0;
                s.pendingVersion = 0;
                delete s.pending;
            } else {
                // Reserve the version now, so an announced version number is never reused for other terms.
                uint64 effectiveAt = uint64(block.timestamp) + TERMS_DELAY;
                s.pending = next;
                s.pendingVersion = _bumpVersion(id);
                s.pendingAt = effectiveAt;
                emit TermsScheduled(msg.sender, id, s.pendingVersion, effectiveAt, next);
            }
        }
        s.updatedAt = uint64(block.timestamp);
        emit ServiceChanged(msg.sender, id, s.version, _view(id));
    }

    /// @notice Remove a service from the catalogue. Vouchers for it stay settleable in the escrow.
    function removeService(bytes32 id) external {
        _owned(id);
        _remove(msg.sender, id);
    }

    // ---------------------------------------------------------------- views

    /// @notice Number of listed services.
    function serviceCount() external view returns (uint256) {
        return _serviceIds.length;
    }

    /// @notice A page of listed services, `limit` at most `MAX_PAGE`.
    function getServices(uint256 offset, uint256 limit) external view returns (ServiceView[] memory page) {
        uint256 total = _serviceIds.length;
        if (limit > MAX_PAGE) limit = MAX_PAGE;
        if (offset >= total) return new ServiceView[](0);
        uint256 end = offset + limit > total ? total : offset + limit;
        page = new ServiceView[](end - offset);
        for (uint256 i = offset; i < end; ++i) {
            page[i - offset] = _view(_serviceIds[i]);
        }
    }

    /// @notice One service by id; reverts with `UnknownService` if it is not listed.
    function getService(bytes32 id) external view returns (ServiceView memory) {
        if (_indexPlusOne[id] == 0) revert UnknownService(id);
        return _view(id);
    }

    /// @notice The services of one provider.
    function getProviderServices(address provider) external view returns (ServiceView[] memory list) {
        bytes32[] storage ids = _providers[provider].serviceIds;
        list = new ServiceView[](ids.length);
        for (uint256 i; i < ids.length; ++i) {
            list[i] = _view(ids[i]);
        }
    }

    /// @notice A provider's bond and unbonding time.
    function getProvider(address provider)
        external
        view
        returns (uint256 bond, uint64 unbondAt, uint256 services, bool active)
    {
        ProviderInfo storage p = _providers[provider];
        return (p.stake, p.unbondAt, p.serviceIds.length, p.staked && p.unbondAt == 0);
    }

    /// @notice Number of providers that ever staked.
    function providerCount() external view returns (uint256) {
        return _providerList.length;
    }

    /// @notice A page of provider addresses (including ones that withdrew their bond since).
    function getProviders(uint256 offset, uint256 limit) external view returns (address[] memory page) {
        uint256 total = _providerList.length;
        if (limit > MAX_PAGE) limit = MAX_PAGE;
        if (offset >= total) return new address[](0);
        uint256 end = offset + limit > total ? total : offset + limit;
        page = new address[](end - offset);
        for (uint256 i = offset; i < end; ++i) {
            page[i - offset] = _providerList[i];
        }
    }

    // ---------------------------------------------------------------- internals

    function _requireActiveProvider(address provider) private view {
        if (!_providers[provider].staked) revert NotStaked();
        uint64 unbondAt = _providers[provider].unbondAt;
        if (unbondAt != 0) revert Unbonding(unbondAt);
    }

    function _owned(bytes32 id) private view returns (Record storage s) {
        if (_indexPlusOne[id] == 0) revert UnknownService(id);
        s = _services[id];
        if (s.provider != msg.sender) revert NotServiceOwner(id);
    }

    function _validate(ServiceInput calldata input) private pure {
        _length("name", bytes(input.name).length, 1, MAX_NAME);
        _length("model", bytes(input.model).length, 1, MAX_MODEL);
        _length("quantization", bytes(input.quantization).length, 0, MAX_QUANTIZATION);
        _length("endpoint", bytes(input.endpoint).length, 1, MAX_ENDPOINT);
        _length("metadata", bytes(input.metadata).length, 0, MAX_METADATA);
        if (input.signer == address(0)) revert ZeroSigner();
    }

    function _length(string memory field, uint256 length, uint256 min, uint256 max) private pure {
        if (length < min || length > max) revert FieldLength(field, length);
    }

    function _termsOf(ServiceInput calldata input) private pure returns (Terms memory) {
        return Terms(input.model, input.modelHash, input.quantization, input.inputPrice, input.outputPrice);
    }

    function _bumpVersion(bytes32 id) private returns (uint32 v) {
        v = _lastVersion[id] + 1;
        _lastVersion[id] = v;
    }

    /// @dev Make a scheduled change whose time has come the current terms.
    function _roll(Record storage s) private {
        if (s.pendingAt != 0 && block.timestamp >= s.pendingAt) {
            s.terms = s.pending;
            s.version = s.pendingVersion;
            s.pendingAt = 0;
            s.pendingVersion = 0;
            delete s.pending;
        }
    }

    function _view(bytes32 id) private view returns (ServiceView memory v) {
        Record storage s = _services[id];
        v.id = id;
        v.provider = s.provider;
        v.name = s.name;
        v.endpoint = s.endpoint;
        v.signer = s.signer;
        v.previousSigner = s.previousSigner;
        v.rotatedAt = s.rotatedAt;
        v.metadata = s.metadata;
        ProviderInfo storage p = _providers[s.provider];
        v.active = p.staked && p.unbondAt == 0;
        v.updatedAt = s.updatedAt;
        if (s.pendingAt != 0 && block.timestamp >= s.pendingAt) {
            // The scheduled change is in force; storage catches up on the next write.
            v.terms = s.pending;
            v.version = s.pendingVersion;
        } else {
            v.terms = s.terms;
            v.version = s.version;
            v.pendingTerms = s.pending;
            v.pendingVersion = s.pendingVersion;
            v.pendingAt = s.pendingAt;
        }
    }

    function _remove(address provider, bytes32 id) private {
        uint256 idx = _indexPlusOne[id] - 1;
        uint256 last = _serviceIds.length - 1;
        if (idx != last) {
            bytes32 moved = _serviceIds[last];
            _serviceIds[idx] = moved;
            _indexPlusOne[moved] = idx + 1;
        }
        _serviceIds.pop();
        _indexPlusOne[id] = 0;

        bytes32[] storage mine = _providers[provider].serviceIds;
        for (uint256 i; i < mine.length; ++i) {
            if (mine[i] == id) {
                mine[i] = mine[mine.length - 1];
                mine.pop();
                break;
            }
        }
        // Keep the version counter (_lastVersion, which includes any announced change); drop the rest.
        delete _services[id];
        emit ServiceRemoved(provider, id);
    }
}

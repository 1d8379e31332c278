export { TorState, Circuit, Stream, STREAM_CLOSE_REASONS } from './state.js';
export type { Router, TorStateOptions, TorStateEvents, BuildCircuitOptions, StreamCloseReason } from './state.js';
export { CircuitError, StreamError } from './errors.js';
export { parseNetworkStatus, parsePolicySummary, policyAllows, base64ToHex } from './ns.js';
export type { RouterStatus, ExitPolicySummary, PortRange } from './ns.js';
export { parseMicrodescriptor, REJECT_ALL } from './microdesc.js';
export type { Microdescriptor } from './microdesc.js';

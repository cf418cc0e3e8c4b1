import { bulkSettings } from '../net/h2-flow.js';
import { TUNER_DEFAULTS } from '../net/window-tuner.js';

/**
 * HTTP/2 settings for both ends of a tunnel (flow control: net/h2-flow.ts). Streams start with the
 * tuner's floor for a window, and each end's WindowTuner moves it with the round trip it measures.
 */
export const H2_SETTINGS = { ...bulkSettings(10_000), initialWindowSize: TUNER_DEFAULTS.floor };

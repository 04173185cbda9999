/** The fault-injecting, network-shaping proxy lives in src/demo (the benches use it too). */
export * from '../../src/demo/fault-proxy.js';

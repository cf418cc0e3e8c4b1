/**
 * The V8 flags `postern` runs with: main.ts's first lines (a shell preamble) and `npm start`
 * carry them, and the bench starts its Postern processes with them (node-flags.test.ts keeps the
 * three in step).
 *
 * A relay allocates little on the JavaScript heap but a Buffer outside it for every chunk it
 * reads. With V8's default young generation (semi-spaces that grow to 16 MiB), scavenges come so
 * seldom that those Buffers are freed only by full collections, which V8 starts for external
 * memory pressure about every 64 MiB relayed: ~20 of them in the proxy, and as many in the agent,
 * per 512 MiB of scp. With 4 MiB semi-spaces, cheap scavenges free the Buffers first (one full
 * collection in the same transfer).
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

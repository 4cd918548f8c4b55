// `prism mock` for the Python tests, loaded once per test process. Loading Prism takes about a
// second, most of it in @faker-js/faker's locales; a mock server of a small spec then starts in
// 0.05 s. Each line on stdin is one request: {"id": N, "args": [...]} starts a server with the
// arguments of `prism mock` (as on its command line, "mock" first), {"id": N, "stop": true} closes
// that server. Each gets one answer line on stdout: {"id": N, "started": true} once the server
// listens, {"id": N, "stopped": true}, or {"id": N, "error": ...}. What Prism logs goes to stderr.
//
// Every server gets its own copy of Prism's modules (@stoplight/* and json-schema-faker, loaded
// again, 0.05 s): their state (Ajv's compiled schemas, json-schema-faker's options) is then that of
// a `prism mock` process of its own. Only faker is kept, with its locale set back to its default
// (a spec's `x-json-schema-faker` may change it); Prism never seeds its generator, so its words
// differ from run to run in `prism mock` too.
'use strict';

const readline = require('readline');

const answer = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr); // Prism's log (signale)

const FRESH = /[\\/]node_modules[\\/](@stoplight|json-schema-faker)[\\/]/;
const KEPT = /[\\/]node_modules[\\/]@faker-js[\\/]/;
const servers = new Map();

function freshPrism () {
    const stale = new Set(Object.keys(require.cache)
        .filter((key) => FRESH.test(key) && !KEPT.test(key))
        .map((key) => {
            const module = require.cache[key];

            delete require.cache[key];

            return module;
        }));

    // the modules kept no longer hold on to the old copies (a server's worth of memory each)
    Object.values(require.cache).forEach((module) => {
        module.children = module.children.filter((child) => !stale.has(child));
    });
    Object.keys(require.cache).filter((key) => KEPT.test(key)).forEach((key) => {
        const faker = require.cache[key].exports && require.cache[key].exports.faker;

        faker && typeof faker.setLocale === 'function' && faker.setLocale('en');
    });

    return {
        command: require('@stoplight/prism-cli/dist/commands/mock').default,
        runner: require('@stoplight/prism-cli/dist/util/runner')
    };
}

// The server `prism mock ARGS` would run: its own argument parsing and its own handler, which
// hands the server to the runner; the runner's file watcher (a restart when the spec changes on
// disk) is left out.
function start (args) {
    const prism = freshPrism();

    return new Promise((resolve, reject) => {
        prism.runner.runPrismAndSetupWatcher = (createPrism, options) => createPrism(options).then((server) => {
            // none when Prism forks a server process of its own (multiprocess, NODE_ENV=production)
            server ? resolve(server) : reject(new Error('Prism started no server in this process'));
        }, reject);
        require('yargs/yargs')(args)
            .strict()
            .command({...prism.command, handler: (argv) => prism.command.handler(argv).catch(reject)})
            .fail((message, error) => reject(error || new Error(message)))
            .parse();
    });
}

function reply (message) {
    answer(JSON.stringify(message) + '\n');
}

const requests = readline.createInterface({input: process.stdin});

requests.on('close', () => process.exit(0)); // the test process is gone: so are its servers
requests.on('line', (line) => {
    const request = JSON.parse(line);

    if (request.stop) { // stops listening at once, as `prism mock` ended by a signal does
        const server = servers.get(request.id);

        servers.delete(request.id);
        server && server.close().catch(() => {});
        reply({id: request.id, stopped: true});

        return;
    }
    start(request.args).then((server) => {
        servers.set(request.id, server);
        reply({id: request.id, started: true});
    }, (error) => reply({id: request.id, error: String(error && error.message || error)}));
});

// newman for the Python tests, loaded once per test process: each line on stdin is one run
// ({options, stdout, stderr}: newman.run's options as `newman run` builds them from its command
// line, and files for what the run prints); each run answers one line on stdout, {"code": N}, the
// exit code `newman run` would have given. Starting node and loading newman takes 0.6 s, about as
// long as a small collection's run.
'use strict';

const fs = require('fs');
const readline = require('readline');
const newman = require('newman');

const write = {out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr)};
const jobs = [];
let running = false;

function capture (stream, into) {
    stream.write = function (chunk, encoding, done) {
        into.push(String(chunk));
        (typeof encoding === 'function' ? encoding : done || function () {})();
        return true;
    };
}

function next () {
    if (running || !jobs.length) {
        return;
    }
    running = true;
    const job = jobs.shift(),
        out = [],
        err = [];

    capture(process.stdout, out);
    capture(process.stderr, err);
    newman.run(job.options, function (error, summary) {
        // as bin/newman.js decides its exit code and reports a run that could not start
        const failed = error || summary.run.error || summary.run.failures.length;

        if (error) {
            err.push(`error: ${error.message || error}\n`);
            error.friendly && err.push(`  ${error.friendly}\n`);
        }
        process.stdout.write = write.out;
        process.stderr.write = write.err;
        fs.writeFileSync(job.stdout, out.join(''));
        fs.writeFileSync(job.stderr, err.join(''));
        write.out(JSON.stringify({code: failed ? 1 : 0}) + '\n');
        running = false;
        next();
    });
}

readline.createInterface({input: process.stdin}).on('line', function (line) {
    jobs.push(JSON.parse(line));
    next();
});

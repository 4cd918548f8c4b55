// Re-serialises a Postman collection as Postman's own library does on export (the round trip of the
// postman-collection SDK that Postman and newman use): node postman_export.js IN.json OUT.json
"use strict";
const fs = require("fs");
const { Collection } = require("postman-collection");

const [input, output] = process.argv.slice(2);
const collection = new Collection(JSON.parse(fs.readFileSync(input, "utf8")));
fs.writeFileSync(output, JSON.stringify(collection.toJSON(), null, "\t"));

// Reads a JSON list of script texts on stdin; writes, for each, {"shape": ...} or {"error": ...}.
// The shape is the script's syntax tree with every literal value left out (strings become "str"): two
// scripts with the same shape run the same code, whatever text their string literals hold (object literals
// compare as sets of properties). Tests use it
// to prove that hostile text from an API definition stays inside string literals.
"use strict";
const acorn = require("acorn");

function shape(node) {
  if (Array.isArray(node)) return node.map(shape);
  if (node === null || typeof node !== "object") return node;
  if (node.type === "Literal") return ["Literal", node.regex ? "regex" : typeof node.value];
  if (node.type === "TemplateElement") return ["TemplateElement"];
  if (node.type === "ObjectExpression") {
    // data objects are written with sorted keys, so their order follows the (literal) key text: compare as sets
    return ["ObjectExpression", node.properties.map((p) => JSON.stringify(shape(p))).sort()];
  }
  const out = [node.type];
  for (const key of Object.keys(node).sort()) {
    if (["type", "start", "end", "loc", "range", "raw"].includes(key)) continue;
    out.push(key, shape(node[key]));
  }
  return out;
}

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const results = JSON.parse(input).map((text) => {
    try {
      // Postman runs a script as the body of a function: top-level `return` is allowed.
      const tree = acorn.parse(text, { ecmaVersion: 2020, sourceType: "script", allowReturnOutsideFunction: true });
      return { shape: JSON.stringify(shape(tree)) };
    } catch (error) {
      return { error: String(error.message) };
    }
  });
  process.stdout.write(JSON.stringify(results));
});

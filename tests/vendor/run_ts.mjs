// Runs a TypeScript sample as a vendor page writes it: the TypeScript compiler strips its
// types (nothing else changes) and the result runs as an ES module beside this package's
// node_modules, so its imports (axios) resolve. Used by tests/api/dialect_ai_calls.rs.
//
//   node tests/vendor/run_ts.mjs <file.ts under tests/vendor>
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

const [file] = process.argv.slice(2);
const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
  compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
});
const js = file.replace(/\.ts$/, '.mjs');
writeFileSync(js, outputText);
try {
  await import(pathToFileURL(js).href);
} finally {
  rmSync(js);
}

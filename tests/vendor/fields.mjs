// Prints, as JSON, the fields the vendors' SDK type definitions declare for the requests
// Ringback sends: Vapi's CreateCallDto (and its customer and assistantOverrides) and Retell's
// CallCreatePhoneCallParams.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const modules = join(dirname(fileURLToPath(import.meta.url)), 'node_modules');
const vapi = join(modules, '@vapi-ai/server-sdk/dist/cjs/api');
const retell = join(modules, 'retell-sdk');

// The top-level fields of `interface <name> { ... }` in a .d.ts file.
function fields(file, name) {
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf(`interface ${name} {`);
  if (start < 0) throw new Error(`no interface ${name} in ${file}`);
  const out = [];
  let depth = 0;
  for (const line of text.slice(start).split('\n').slice(1)) {
    if (depth === 0 && /^\s*}/.test(line)) break;
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\??:/.exec(line);
    if (m && depth === 0) out.push(m[1]);
    depth += (line.match(/{/g) || []).length - (line.match(/}/g) || []).length;
  }
  return out;
}

console.log(JSON.stringify({
  vapi_call: fields(join(vapi, 'resources/calls/client/requests/CreateCallDto.d.ts'), 'CreateCallDto'),
  vapi_customer: fields(join(vapi, 'types/CreateCustomerDto.d.ts'), 'CreateCustomerDto'),
  vapi_overrides: fields(join(vapi, 'types/AssistantOverrides.d.ts'), 'AssistantOverrides'),
  vapi_artifact_plan: fields(join(vapi, 'types/ArtifactPlan.d.ts'), 'ArtifactPlan'),
  retell_call: fields(join(retell, 'resources/call.d.ts'), 'CallCreatePhoneCallParams'),
}));

// Signs the body on standard input with the API key in argv[2], as Retell does (its SDK's
// `sign`), and checks the SDK's own `verify` accepts it. Prints the x-retell-signature value.
import { sign, verify } from 'retell-sdk';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const body = Buffer.concat(chunks).toString('utf8');
const key = process.argv[2];
const signature = await sign(body, key);
if (!(await verify(body, key, signature))) {
  console.error('retell-sdk does not verify its own signature');
  process.exit(1);
}
process.stdout.write(signature);

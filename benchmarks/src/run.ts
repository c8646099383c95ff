/**
 * The benchmark runner: `npm run bench -- <name> [--json] [--quick]`.
 */
const names = ['kernel', 'net', 'structures', 'pool'];
const [name] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (name === undefined || !names.includes(name)) {
  console.error(`usage: npm run bench -- <${names.join('|')}> [--json] [--quick]`);
  process.exit(2);
}
await import(`./${name}.js`);

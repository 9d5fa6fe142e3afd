// Run a Python file under MicroPython's WebAssembly port (npm
// @micropython/micropython-webassembly-pyscript), a real MicroPython interpreter.
//
//   node tests/micropython/run_wasm.mjs [--pkg DIR] [--as NAME] [--only a,b,c] [--data REL]... SCRIPT.py
//
// --pkg DIR   the package to make importable (default: src/vpn_passthrough of this
//             repository); its .py files are copied into the interpreter's own file
//             system as /lib/vpn_passthrough/ (/lib is on MicroPython's sys.path).
// --as NAME   import it as NAME instead of vpn_passthrough.
// --only      copy only these modules (plus __init__): an import of any other module
//             of the package then fails, as it would on a router that lacks it.
// --data REL  copy the repository file REL to /REL (MicroPython's cwd is /), so the
//             script can open("REL") as it does when run from the repository root.
// Exit status 0, or 1 with the Python traceback on stderr; the script's stdout is
// passed through unchanged.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");

function usage(msg) {
  process.stderr.write("run_wasm: " + msg + "\nusage: node run_wasm.mjs [--pkg DIR] [--as NAME] [--only a,b] [--data REL]... SCRIPT.py\n");
  process.exit(2);
}

let pkg = path.join(ROOT, "src", "vpn_passthrough");
let name = "vpn_passthrough";
let only = null;
const data = [];
let script = null;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--pkg") pkg = path.resolve(argv[++i] ?? usage("--pkg needs a directory"));
  else if (a === "--as") name = argv[++i] ?? usage("--as needs a name");
  else if (a === "--only") only = (argv[++i] ?? usage("--only needs a list")).split(",").filter(Boolean);
  else if (a === "--data") data.push(argv[++i] ?? usage("--data needs a path"));
  else if (a.startsWith("--")) usage("unknown option " + a);
  else if (script === null) script = a;
  else usage("one script only");
}
if (script === null) usage("no script");

function mkdirs(FS, dir) {
  let cur = "";
  for (const part of dir.split("/").filter(Boolean)) {
    cur += "/" + part;
    try { FS.mkdir(cur); } catch (e) { /* exists */ }
  }
}

const mp = await loadMicroPython({
  heapsize: 16 * 1024 * 1024,
  linebuffer: false,
  stdout: (chunk) => process.stdout.write(chunk),
  stderr: (chunk) => process.stderr.write(chunk),
});

mkdirs(mp.FS, "/lib/" + name);
const wanted = only === null ? null : new Set(["__init__", ...only]);
for (const f of fs.readdirSync(pkg).sort()) {
  if (!f.endsWith(".py")) continue;
  if (wanted !== null && !wanted.has(f.slice(0, -3))) continue;
  mp.FS.writeFile("/lib/" + name + "/" + f, fs.readFileSync(path.join(pkg, f)));
}
for (const rel of data) {
  const guest = "/" + rel.replace(/^\/+/, "");
  mkdirs(mp.FS, path.posix.dirname(guest));
  mp.FS.writeFile(guest, fs.readFileSync(path.resolve(ROOT, rel)));
}

const code = fs.readFileSync(script, "utf8");
try {
  mp.runPython(code);
} catch (e) {
  process.stderr.write(String(e && e.message ? e.message : e) + "\n");
  process.exitCode = 1;
}

// Run a memgpt export folder (`memgpt-task export ... -o DIR`) from Node.js: no Python needed.
//
//   npm install --ignore-scripts     # the bundled CPU binary is enough
//   node memgpt-onnx.mjs DIR "Where is the train station?"      # translate / summarize exports
//   node memgpt-onnx.mjs DIR "I loved it"                        # classify exports
//
// Prints one JSON object: {"translation"|"summary": ...} or {"label", "score"}.
// It reads settings.json (prompt template, generation settings, labels, token ids),
// checks every file against manifest.json (sha256), tokenizes with tokenizer.json and runs the
// graph: classify once; generation greedily with the key/value cache fed back each step.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import ort from "onnxruntime-node";
import { Tokenizer } from "@huggingface/tokenizers";

const [dir, ...words] = process.argv.slice(2);
if (!dir || words.length === 0) {
  console.error("usage: node memgpt-onnx.mjs EXPORT_DIR TEXT");
  process.exit(2);
}
const text = words.join(" ");
const read = (name) => fs.readFileSync(path.join(dir, name));

// 1. The manifest: every file listed, plain names only, sha256 must match.
const manifest = JSON.parse(read("manifest.json"));
for (const [name, meta] of Object.entries(manifest.files)) {
  if (name.includes("/") || name.includes("\\") || name.startsWith(".")) {
    throw new Error(`manifest names a file outside the folder: ${name}`);
  }
  const digest = crypto.createHash("sha256").update(read(name)).digest("hex");
  if (digest !== meta.sha256) throw new Error(`${name} does not match manifest.json`);
}
const settings = JSON.parse(read("settings.json"));
const tokenizer = new Tokenizer(JSON.parse(read("tokenizer.json")), {});
const session = await ort.InferenceSession.create(path.join(dir, "model.onnx"));

// 2. The prompt: before + template.format(text, src, tgt) + after, cut like the Python runtime.
const fields = { text, src: "English", tgt: "Spanish", ...(settings.info.fields || {}) };
const langs = { en: "English", es: "Spanish", fr: "French", de: "German" };
if (settings.info.src) fields.src = langs[settings.info.src] || settings.info.src;
if (settings.info.tgt) fields.tgt = langs[settings.info.tgt] || settings.info.tgt;
const body = settings.template.replace(/\{(\w+)\}/g, (_, k) => fields[k]);
const prompt = settings.prompt.before + body + settings.prompt.after;
const encode = (s) => tokenizer.encode(s, { add_special_tokens: false }).ids;
const int64 = (arr, dims) => new ort.Tensor("int64", BigInt64Array.from(arr.map(BigInt)), dims);

if (settings.graph.kind === "classifier") {
  const ids = encode(prompt).slice(0, settings.max_input_tokens);
  const out = await session.run({
    input_ids: int64(ids, [1, ids.length]),
    attention_mask: int64(ids.map(() => 1), [1, ids.length]),
  });
  const logits = Array.from(out.logits.data);
  const m = Math.max(...logits);
  const exp = logits.map((x) => Math.exp(x - m));
  const sum = exp.reduce((a, b) => a + b, 0);
  const best = exp.indexOf(Math.max(...exp));
  console.log(JSON.stringify({ label: settings.labels[best], score: exp[best] / sum }));
} else if (settings.graph.kind === "decoder") {
  const { n_layers: layers, n_kv_heads: g, head_dim: e } = settings.model;
  const gen = settings.generation;
  const maxNew = gen.max_new_tokens ?? 64;
  const stops = new Set([settings.tokens.eos_id, settings.tokens.im_end_id]);
  let ids = encode(prompt);
  let past = {};
  for (let i = 0; i < layers; i++) {
    for (const w of ["key", "value"]) {
      past[`past_${w}.${i}`] = new ort.Tensor("float32", new Float32Array(0), [1, g, 0, e]);
    }
  }
  let total = 0;
  const out = [];
  for (let step = 0; step < maxNew; step++) {
    total += ids.length;
    const feeds = {
      input_ids: int64(ids, [1, ids.length]),
      attention_mask: int64(new Array(total).fill(1), [1, total]),
      position_ids: int64(ids.map((_, j) => total - ids.length + j), [1, ids.length]),
      ...past,
    };
    const res = await session.run(feeds);
    const logits = res.logits.data;
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    if (stops.has(best)) break;
    out.push(best);
    const soFar = tokenizer.decode(out, { skip_special_tokens: true });
    if ((gen.stop_strings || []).some((s) => soFar.includes(s))) break;
    past = {};
    for (let i = 0; i < layers; i++) {
      for (const w of ["key", "value"]) past[`past_${w}.${i}`] = res[`present_${w}.${i}`];
    }
    ids = [best];
  }
  let result = tokenizer.decode(out, { skip_special_tokens: true });
  for (const s of gen.stop_strings || []) if (result.includes(s)) result = result.split(s)[0];
  const key = settings.task === "translate" ? "translation" : "summary";
  console.log(JSON.stringify({ [key]: result.trim().split(/\s+/).join(" ") }));
} else {
  console.error(`this example runs classify and generation exports, not ${settings.task}`);
  process.exit(2);
}

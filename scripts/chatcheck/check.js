// Checks bsodwatch's rendered chat payloads with each service's own client library.
//
//   node check.js CASES.json  >  REPORT.json
//
// CASES.json (written by the Go test notifier/chatcheck) is {"cases": [...]}, each case
// {target, name, raw, twin, kept, links}: the payload as sent (raw), the same message
// rendered from the same view with every value replaced by "x" (twin: what the template
// alone makes), the values the message must show (kept) and the URLs it may link.
//
// teams:      the real adaptivecards parser and validator, with Teams' host config; the
//             28 KB limit; each TextBlock's Markdown (markdown-it, which adaptivecards
//             renders with) has the same structure as the twin's: no value formats or links.
// slack:      every payload type-checked against @slack/types (KnownBlock) by the real
//             TypeScript compiler; Block Kit's documented limits; mrkdwn markup counted
//             against the twin's (Slack ships no parser).
// mattermost: the documented webhook keys; 16,383 characters; the text parsed by
//             @mattermost/commonmark (the parser of Mattermost's apps) has the twin's
//             structure and no mention, channel link, hashtag, emoji or autolink at all.
//
// REPORT.json is {"checked": {target: count}, "problems": [{target, name, problem}],
// "ms": {phase: milliseconds}}.
"use strict";

const fs = require("fs");
const path = require("path");
const AC = require("adaptivecards/dist/adaptivecards.js");
const markdownit = require("markdown-it");
const commonmark = require("@mattermost/commonmark");
const ts = require("typescript");
const teamsHostConfig = require("./teams-host-config.js");

const ZW = /[\u200b\u200c\u200d\u2060]/g;
const problems = [];
const checked = { teams: 0, slack: 0, mattermost: 0 };

function say(c, problem) {
  problems.push({ target: c.target, name: c.name, problem });
}

function sameList(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function firstDiff(a, b) {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `at ${i}: ${a[i]} vs the template's ${b[i]}`;
  }
  return "";
}

// keptShown checks that every kept value reads in the shown text as it is.
function keptShown(c, shown) {
  const plain = shown.replace(ZW, "");
  for (const k of c.kept || []) {
    if (!plain.includes(k.replace(ZW, ""))) say(c, `does not show ${JSON.stringify(k.slice(0, 80))}`);
  }
}

function linksAllowed(c, hrefs) {
  for (const h of hrefs) {
    if (!(c.links || []).includes(h)) say(c, `links ${JSON.stringify(h)}, which is no rule link or result link`);
  }
}

// ---- Teams ---------------------------------------------------------------------------

// What Teams' Markdown reads (bold, italic, lists, links), with the entities and escapes
// CommonMark has, and links found in bare text (the strictest guess at Teams' clients).
const teamsMd = markdownit("zero", { linkify: true })
  .enable(["emphasis", "link", "list", "entity", "escape", "linkify", "newline"]);
teamsMd.linkify.set({ fuzzyLink: true, fuzzyEmail: true });

// mdShape lists the markup tokens of one TextBlock (types, link targets), its shown text
// and its links.
function mdShape(text) {
  const shape = [];
  const hrefs = [];
  let shown = "";
  for (const t of teamsMd.parse(text, {})) {
    if (t.type !== "inline") {
      shape.push(t.type);
      continue;
    }
    for (const k of t.children) {
      if (k.type === "text" || k.type === "softbreak") {
        shown += k.content;
        continue;
      }
      shape.push(k.type);
      if (k.type === "link_open") hrefs.push(k.attrGet("href"));
    }
  }
  // The card's own text functions: {{DATE(...)}} and {{TIME(...)}}.
  const fns = (text.match(/\{\{(DATE|TIME)\(/g) || []).length;
  if (fns) shape.push(`${fns} card functions`);
  return { shape, shown, hrefs };
}

function teamsBlocks(payload) {
  const content = payload.attachments[0].content;
  return content.body.filter((e) => e.type === "TextBlock").map((e) => e.text);
}

function checkTeams(c) {
  const size = Buffer.byteLength(c.raw, "utf8");
  if (size > 28 * 1024) say(c, `card is ${size} bytes, over Teams' 28 KB`);
  const p = JSON.parse(c.raw);
  if (p.type !== "message" || !Array.isArray(p.attachments) || p.attachments.length !== 1 ||
      p.attachments[0].contentType !== "application/vnd.microsoft.card.adaptive") {
    say(c, "not a Workflows message with one Adaptive Card attachment");
    return;
  }
  const content = p.attachments[0].content;
  if (!(Number(content.version) <= 1.5)) say(c, `card version ${content.version}: Teams renders up to 1.5`);
  const card = new AC.AdaptiveCard();
  card.hostConfig = new AC.HostConfig(teamsHostConfig);
  const ctx = new AC.SerializationContext();
  card.parse(content, ctx);
  for (let i = 0; i < ctx.eventCount; i++) say(c, `adaptivecards parse: ${ctx.getEventAt(i).message}`);
  for (const ev of card.validateProperties().validationEvents) say(c, `adaptivecards validate: ${ev.message}`);
  if (card.getItemCount() !== content.body.length) {
    say(c, `adaptivecards kept ${card.getItemCount()} of ${content.body.length} elements`);
  }
  const real = teamsBlocks(p);
  const twin = teamsBlocks(JSON.parse(c.twin));
  if (real.length !== twin.length) {
    say(c, `${real.length} TextBlocks, the template alone makes ${twin.length}`);
    return;
  }
  let shown = "";
  const hrefs = [];
  real.forEach((text, i) => {
    const r = mdShape(text);
    const t = mdShape(twin[i]);
    if (!sameList(r.shape, t.shape)) {
      say(c, `TextBlock ${i}: a value changes the Markdown ${firstDiff(r.shape, t.shape)}: ${JSON.stringify(text.slice(0, 200))}`);
    }
    shown += r.shown + "\n";
    hrefs.push(...r.hrefs);
  });
  keptShown(c, shown);
  linksAllowed(c, hrefs);
  checked.teams++;
}

// ---- Slack ---------------------------------------------------------------------------

// Block Kit's documented limits for what bsodwatch sends (and header, which it does not).
function slackLimits(c, p) {
  if (typeof p.text !== "string" || p.text.length > 40000) say(c, "top-level text missing or over 40,000 characters");
  if (!Array.isArray(p.blocks) || p.blocks.length === 0 || p.blocks.length > 50) {
    say(c, `${(p.blocks || []).length} blocks: Slack takes 1 to 50`);
    return;
  }
  const texts = [];
  p.blocks.forEach((b, i) => {
    switch (b.type) {
      case "section":
        if (!b.text || b.text.text.length < 1 || b.text.text.length > 3000) say(c, `section ${i}: text must be 1 to 3,000 characters`);
        if (b.text) texts.push(b.text);
        break;
      case "context":
        if (!b.elements || b.elements.length < 1 || b.elements.length > 10) say(c, `context ${i}: 1 to 10 elements`);
        for (const e of b.elements || []) {
          if (e.text.length < 1 || e.text.length > 3000) say(c, `context ${i}: element text must be 1 to 3,000 characters`);
          texts.push(e);
        }
        break;
      case "header":
        if (!b.text || b.text.type !== "plain_text" || b.text.text.length > 150) say(c, `header ${i}: plain_text of at most 150 characters`);
        break;
      default:
        say(c, `block ${i}: type ${b.type} is not one bsodwatch sends`);
    }
    if (b.block_id && b.block_id.length > 255) say(c, `block ${i}: block_id over 255 characters`);
  });
  for (const t of texts) {
    if (t.type === "mrkdwn" && t.verbatim !== true) say(c, "a mrkdwn text without verbatim: true (Slack would link URLs and channel names in it)");
  }
  return texts.map((t) => t.text);
}

// mrkdwnShape counts what Slack's mrkdwn reads as markup: the formatting characters (an
// underscore inside a word formats nothing), links and mentions in <…>, :emoji:, quotes.
function mrkdwnShape(text) {
  const shape = [];
  const chars = [...text];
  chars.forEach((ch, i) => {
    const word = (x) => x !== undefined && /[\p{L}\p{N}]/u.test(x);
    if ("*~`<>".includes(ch)) shape.push(ch);
    if (ch === "_" && !(word(chars[i - 1]) && word(chars[i + 1]))) shape.push("_");
  });
  for (const m of text.match(/:[a-z0-9_+'-]+:/gi) || []) shape.push(`emoji ${m}`);
  for (const line of text.split("\n")) if (/^(&gt;|>)/.test(line)) shape.push("quote");
  return shape;
}

function slackTexts(p) {
  const out = [];
  for (const b of p.blocks || []) {
    if (b.text) out.push(b.text.text);
    for (const e of b.elements || []) out.push(e.text);
  }
  return out;
}

const slackTS = [];

function checkSlack(c) {
  const p = JSON.parse(c.raw);
  slackLimits(c, p);
  const real = slackTexts(p).map(mrkdwnShape).flat();
  const twin = slackTexts(JSON.parse(c.twin)).map(mrkdwnShape).flat();
  if (!sameList(real, twin)) say(c, `a value changes the mrkdwn ${firstDiff(real, twin)}`);
  slackTS.push(c);
  checked.slack++;
}

// typeCheckSlack compiles every Slack payload as a typed constant with the real TypeScript
// compiler against @slack/types, in memory, and reports each diagnostic on its case.
function typeCheckSlack() {
  if (slackTS.length === 0) return;
  const file = path.join(__dirname, "payloads.generated.ts");
  let src = 'import type { KnownBlock } from "@slack/types";\n' +
    "type IncomingWebhookMessage = { text: string; blocks: KnownBlock[] };\n";
  const lineOf = [];
  slackTS.forEach((c, i) => {
    const body = `export const m${i}: IncomingWebhookMessage = ${c.raw};\n`;
    const start = src.split("\n").length;
    src += body;
    lineOf.push([start, src.split("\n").length, c]);
  });
  // The check must be able to fail: the last line has a block type Slack does not have,
  // and the compiler must refuse it.
  const selfTest = src.split("\n").length;
  src += 'export const selfTest: KnownBlock = { type: "sektion" };\n';
  const options = {
    strict: true, noEmit: true, skipLibCheck: true, types: [], lib: ["lib.es2020.d.ts"],
    target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (f, lang, ...rest) => (f === file ? ts.createSourceFile(f, src, lang) : getSourceFile(f, lang, ...rest));
  host.fileExists = (f) => f === file || fileExists(f);
  const program = ts.createProgram([file], options, host);
  let refused = false;
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, " ");
    if (!d.file || d.file.fileName !== file) {
      problems.push({ target: "slack", name: "(compiler)", problem: msg });
      continue;
    }
    const line = d.file.getLineAndCharacterOfPosition(d.start).line + 1;
    if (line === selfTest) {
      refused = true;
      continue;
    }
    const hit = lineOf.find(([a, b]) => line >= a && line < b);
    problems.push({ target: "slack", name: hit ? hit[2].name : "(header)", problem: `@slack/types: ${msg}` });
  }
  if (!refused) {
    problems.push({ target: "slack", name: "(self-test)", problem: "@slack/types accepted a block of type sektion" });
  }
}

// ---- Mattermost ----------------------------------------------------------------------

const mmKeys = new Set(["text", "username", "channel", "icon_url", "icon_emoji", "attachments", "props", "type", "priority"]);
const mmNever = new Set(["at_mention", "channel_link", "hashtag", "emoji", "latex_inline", "html_inline", "html_block", "image", "table", "checkbox"]);

function cmShape(text) {
  const parser = new commonmark.Parser({ minimumHashtagLength: 3 });
  const walker = parser.parse(text).walker();
  const shape = [];
  const hrefs = [];
  const never = [];
  let shown = "";
  let e;
  while ((e = walker.next())) {
    const n = e.node;
    if (n.type === "text") {
      if (e.entering) shown += n.literal;
      continue;
    }
    if (!e.entering) continue;
    if (n.type === "softbreak" || n.type === "linebreak") {
      shown += "\n";
      continue;
    }
    shape.push(n.type);
    if (n.type === "code") shown += n.literal;
    if (n.type === "link") hrefs.push(n.destination);
    if (mmNever.has(n.type)) never.push(`${n.type} ${n.mentionName || n.channelName || n.literal || ""}`);
  }
  return { shape, hrefs, never, shown };
}

function checkMattermost(c) {
  const p = JSON.parse(c.raw);
  for (const k of Object.keys(p)) if (!mmKeys.has(k)) say(c, `key ${k} is not one Mattermost's incoming webhooks document`);
  const n = [...p.text].length;
  if (n > 16383) say(c, `text is ${n} characters, over 16,383`);
  const r = cmShape(p.text);
  const t = cmShape(JSON.parse(c.twin).text);
  if (!sameList(r.shape, t.shape)) say(c, `a value changes the Markdown ${firstDiff(r.shape, t.shape)}`);
  for (const x of r.never) say(c, `the text makes a ${x}`);
  keptShown(c, r.shown);
  linksAllowed(c, r.hrefs);
  checked.mattermost++;
}

// ---- main ----------------------------------------------------------------------------

function main() {
  const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const check = { teams: checkTeams, slack: checkSlack, mattermost: checkMattermost };
  const ms = { load: Math.round(process.uptime() * 1000) };
  for (const c of input.cases) {
    const t0 = Date.now();
    try {
      check[c.target](c);
    } catch (err) {
      say(c, `check failed: ${err && err.stack ? err.stack : err}`);
    }
    ms[c.target] = (ms[c.target] || 0) + Date.now() - t0;
  }
  const t0 = Date.now();
  typeCheckSlack();
  ms.typescript = Date.now() - t0;
  process.stdout.write(JSON.stringify({ checked, problems, ms }, null, 1) + "\n");
}

main();

// Renders bsodwatch's chat payloads to PNG in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core; never a downloaded browser).
//
//   node pictures.js PAYLOADS_DIR OUT_DIR
//
// PAYLOADS_DIR holds slack.json, teams.json and mattermost.json, each a list of
// {name, payload} (written by the Go test notifier/chatcheck TestWritePictureCases).
// Written: OUT_DIR/<target>-samples.png (known, unknown, failed, update) and
// OUT_DIR/<target>-hostile.png (hostile, markup) and OUT_DIR/<target>-oversized.png
// (oversized-40k, failed-36k).
//
// Teams cards are rendered by the adaptivecards library itself with Teams' host config and
// markdown-it (how adaptivecards renders Markdown). Slack and Mattermost have no renderer
// to use: Slack's mrkdwn is rendered by the small renderer below, Mattermost's Markdown by
// @mattermost/commonmark's HTML renderer, each in a page styled after the service. Those
// two are our rendering of what the service shows, not the service's own.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");
const commonmark = require("@mattermost/commonmark");
const teamsHostConfig = require("./teams-host-config.js");

const sets = {
  samples: ["known", "unknown", "failed", "update"],
  hostile: ["hostile", "markup"],
  oversized: ["oversized-40k", "failed-36k"],
};

const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

// ---- Slack mrkdwn, as Slack shows it (our renderer) -----------------------------------

const emoji = { new: "🆕", warning: "⚠️", repeat: "🔁" };

// mrkdwnLine renders one line: <url|label> links, entities, `code`, *bold*, _italic_,
// ~strike~ (each opening after a non-word character and closing before one), :emoji:.
// Links and code spans are set aside first, so formatting may span a link as in Slack.
function mrkdwnLine(line) {
  const held = [];
  const hold = (html) => `\u0000${held.push(html) - 1}\u0000`;
  let t = line.replace(/<([^<>|]+)\|([^<>]*)>/g, (_, u, l) => hold(`<a href="${esc(u)}">${esc(decode(l))}</a>`));
  t = t.replace(/`([^`]+)`/g, (_, c) => hold(`<code>${esc(decode(c))}</code>`));
  t = esc(decode(t));
  const wrap = (ch, tag) => {
    const q = ch === "*" ? "\\*" : ch;
    const re = new RegExp(`(^|[^\\p{L}\\p{N}])${q}([^${q}\\s](?:[^${q}]*[^${q}\\s])?)${q}(?=$|[^\\p{L}\\p{N}])`, "gu");
    t = t.replace(re, `$1<${tag}>$2</${tag}>`);
  };
  wrap("*", "b");
  wrap("_", "i");
  wrap("~", "s");
  t = t.replace(/:([a-z0-9_+-]+):/g, (m, n) => emoji[n] || m);
  return t.replace(/\u0000(\d+)\u0000/g, (_, i) => held[Number(i)]);
}

function decode(s) {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function mrkdwn(text) {
  return text.split("\n").map(mrkdwnLine).join("<br>");
}

function slackMessage(p) {
  const blocks = p.blocks.map((b) => {
    if (b.type === "section") return `<div class="section">${mrkdwn(b.text.text)}</div>`;
    if (b.type === "context") return `<div class="context">${b.elements.map((e) => mrkdwn(e.text)).join(" ")}</div>`;
    return "";
  }).join("");
  return `<div class="msg"><div class="avatar">BW</div><div class="body"><div class="who"><b>bsodwatch</b> <span class="app">APP</span> <span class="time">3:14 AM</span></div>${blocks}</div></div>`;
}

const slackCSS = `
body { margin: 0; background: #fff; font: 15px/1.46668 "Liberation Sans", "DejaVu Sans", Arial, sans-serif; color: #1d1c1d; }
.channel { width: 860px; padding: 8px 0; }
.head { padding: 10px 20px; border-bottom: 1px solid #ddd; font-weight: bold; font-size: 18px; }
.msg { display: flex; padding: 8px 20px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #4a154b; color: #fff; font-weight: bold; font-size: 13px; display: flex; align-items: center; justify-content: center; margin-right: 8px; flex: none; }
.body { min-width: 0; overflow-wrap: anywhere; }
.who .app { background: #ddd; color: #555; font-size: 10px; padding: 1px 3px; border-radius: 2px; }
.who .time { color: #616061; font-size: 12px; }
.section { margin: 4px 0; }
.context { color: #616061; font-size: 12px; margin: 4px 0; }
code { overflow-wrap: anywhere; color: #e01e5a; background: #f6f6f6; border: 1px solid #ddd; border-radius: 3px; padding: 0 3px; font: 12px "DejaVu Sans Mono", monospace; }
a { color: #1264a3; text-decoration: none; }
`;

// ---- Mattermost Markdown (our page, @mattermost/commonmark's HTML) --------------------

function mattermostMessage(p) {
  const doc = new commonmark.Parser({ minimumHashtagLength: 3 }).parse(p.text);
  // Mattermost breaks lines where the text does.
  const html = new commonmark.HtmlRenderer({ safe: true, softbreak: "<br>" }).render(doc);
  return `<div class="post"><div class="avatar">BW</div><div class="body"><div class="who"><b>bsodwatch</b> <span class="bot">BOT</span> <span class="time">3:14 AM</span></div><div class="text">${html}</div></div></div>`;
}

const mattermostCSS = `
body { margin: 0; background: #fff; font: 14px/20px "Liberation Sans", "DejaVu Sans", Arial, sans-serif; color: #3f4350; }
.channel { width: 860px; padding: 8px 0; }
.head { padding: 10px 20px; border-bottom: 1px solid #e0e0e0; font-weight: bold; font-size: 16px; }
.post { display: flex; padding: 10px 20px; }
.avatar { width: 32px; height: 32px; border-radius: 50%; background: #1c58d9; color: #fff; font-size: 12px; font-weight: bold; display: flex; align-items: center; justify-content: center; margin-right: 10px; flex: none; }
.body { min-width: 0; overflow-wrap: anywhere; }
.who .bot { background: #e0e0e4; font-size: 10px; padding: 0 4px; border-radius: 2px; }
.who .time { color: #8a8c93; font-size: 12px; }
.text p { margin: 2px 0 6px; }
em { font-style: italic; }
a { color: #1c58d9; text-decoration: none; }
code { background: #f0f0f2; border-radius: 3px; padding: 0 3px; font: 12px "DejaVu Sans Mono", monospace; }
`;

// ---- Teams (the adaptivecards renderer in the page) ----------------------------------

const teamsCSS = `
body { margin: 0; background: #f5f5f5; font: 14px "Liberation Sans", "DejaVu Sans", Arial, sans-serif; color: #242424; }
.channel { width: 860px; padding: 8px 0; }
.head { padding: 10px 20px; font-weight: bold; font-size: 18px; background: #fff; border-bottom: 1px solid #e0e0e0; }
.post { display: flex; padding: 10px 20px; }
.avatar { width: 32px; height: 32px; border-radius: 50%; background: #5b5fc7; color: #fff; font-size: 12px; font-weight: bold; display: flex; align-items: center; justify-content: center; margin-right: 10px; flex: none; }
.bubble { background: #fff; border-radius: 4px; box-shadow: 0 1px 2px rgba(0,0,0,.15); padding: 8px 0 0; width: 780px; overflow-wrap: anywhere; }
.who { padding: 0 16px; font-size: 12px; color: #616161; }
.card { }
`;

function teamsPage(title, items) {
  const posts = items.map((it, i) => `<div class="post"><div class="avatar">W</div><div class="bubble"><div class="who"><b>Workflows</b> 3:14 AM</div><div class="card" id="card${i}"></div></div></div>`).join("");
  return `<!doctype html><meta charset="utf-8"><style>${teamsCSS}</style><div class="channel"><div class="head">${esc(title)}</div>${posts}</div>`;
}

function page(css, title, bodies) {
  return `<!doctype html><meta charset="utf-8"><style>${css}</style><div class="channel"><div class="head">${esc(title)}</div>${bodies.join("")}</div>`;
}

async function main() {
  const [inDir, outDir] = process.argv.slice(2);
  fs.mkdirSync(outDir, { recursive: true });
  const load = (t) => JSON.parse(fs.readFileSync(path.join(inDir, `${t}.json`), "utf8"));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "bsodwatch-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--disable-quic"],
    viewport: { width: 900, height: 600 },
    deviceScaleFactor: 1,
  });
  try {
    const pg = ctx.pages()[0] || (await ctx.newPage());
    await pg.route("**/*", (r) => (r.request().url().startsWith("data:") ? r.continue() : r.abort()));
    const shoot = async (file) => {
      const el = await pg.$(".channel");
      await el.screenshot({ path: path.join(outDir, file) });
      console.log(path.join(outDir, file));
    };
    for (const [set, names] of Object.entries(sets)) {
      const pick = (list) => names.map((n) => list.find((x) => x.name === n)).filter(Boolean);
      const slack = pick(load("slack"));
      await pg.setContent(page(slackCSS, "# crash-alerts (Slack, our rendering)", slack.map((x) => slackMessage(x.payload))));
      await shoot(`slack-${set}.png`);
      const mm = pick(load("mattermost"));
      await pg.setContent(page(mattermostCSS, "~ crash-alerts (Mattermost, our rendering)", mm.map((x) => mattermostMessage(x.payload))));
      await shoot(`mattermost-${set}.png`);
      const tm = pick(load("teams"));
      await pg.setContent(teamsPage("Crash alerts (Teams card rendered by adaptivecards)", tm));
      await pg.addScriptTag({ path: require.resolve("markdown-it/dist/markdown-it.min.js") });
      await pg.addScriptTag({ path: require.resolve("adaptivecards/dist/adaptivecards.min.js") });
      const errors = await pg.evaluate(({ cards, hostConfig }) => {
        // What Teams' Markdown reads, as in check.js.
        const md = window.markdownit("zero", { linkify: true })
          .enable(["emphasis", "link", "list", "entity", "escape", "linkify", "newline"]);
        window.AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {
          result.outputHtml = md.render(text);
          result.didProcess = true;
        };
        const out = [];
        cards.forEach((c, i) => {
          const card = new window.AdaptiveCards.AdaptiveCard();
          card.hostConfig = new window.AdaptiveCards.HostConfig(hostConfig);
          card.parse(c.attachments[0].content);
          const el = card.render();
          if (!el) out.push(`card ${i} did not render`);
          else document.getElementById(`card${i}`).appendChild(el);
        });
        return out;
      }, { cards: tm.map((x) => x.payload), hostConfig: teamsHostConfig });
      if (errors.length) throw new Error(errors.join("; "));
      await shoot(`teams-${set}.png`);
    }
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`pictures: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});

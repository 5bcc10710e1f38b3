// End-to-end test of the dashboard in a real Chromium against a real
// `nowait run`: the page must show live levels, its controls must change the
// engine (checked through GET /api/state, not through the page), recording
// must produce a file, and the phone layout must hold.
//
//   node e2e.mjs --nowait /path/to/nowait --workdir DIR --screenshot DIR/dashboard.png
//
// Every wait polls for a condition with a deadline; nothing sleeps to
// synchronise. On failure it says what it was waiting for, saves a failure
// screenshot next to --screenshot, and exits 1. The nowait child is always
// stopped by its PID (SIGINT, then SIGKILL) and the browser closed.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import process from 'node:process';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.NOWAIT_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const START_TIMEOUT_MS = 20_000; // nowait printing its address
const STEP_TIMEOUT_MS = 10_000; // any one condition in the page or the engine
const STOP_TIMEOUT_MS = 5_000; // SIGINT to exit before SIGKILL
const RECONNECT_TIMEOUT_MS = 30_000; // the page's own backoff is at most a few seconds

const CONFIG = `# Written by tests/browser/e2e.mjs: two tones panned apart, no sinks.
[engine]
sample_rate = 48000
block_frames = 128
driver = "virtual"
master_gain_db = 0.0
scope_rate = 4800

[[input]]
name = "tone A"
source = "tone:440"
level_db = -12.0
gain_db = 0.0
pan = -0.5

[[input]]
name = "tone B"
source = "tone:660"
level_db = -12.0
gain_db = 0.0
pan = 0.5
`;

// -------------------------------------------------------------------- helpers

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    if (!key.startsWith('--') || i + 1 >= argv.length) usage(`unexpected argument ${key}`);
    out[key.slice(2)] = argv[++i];
  }
  for (const required of ['nowait', 'workdir', 'screenshot']) {
    if (!out[required]) usage(`--${required} is required`);
  }
  return out;
}

function usage(problem) {
  console.error(`e2e: ${problem}`);
  console.error('usage: node e2e.mjs --nowait /path/to/nowait --workdir DIR --screenshot DIR/dashboard.png');
  process.exit(2);
}

let step = 'starting';
function log(text) {
  console.log(`e2e: ${text}`);
}

class WaitTimeout extends Error {}
// Thrown by a probe when waiting longer cannot help (the child died).
class Fatal extends Error {}

// Polls `probe` until it returns a truthy value, which it returns. `probe` may
// return {ok, seen}: `seen` is reported if the deadline passes.
async function waitFor(what, probe, timeoutMs = STEP_TIMEOUT_MS, intervalMs = 100) {
  step = what;
  const deadline = Date.now() + timeoutMs;
  let seen = '(nothing yet)';
  for (;;) {
    let result;
    try {
      result = await probe();
    } catch (err) {
      if (err instanceof Fatal) throw err;
      result = undefined;
      seen = `error: ${err.message.split('\n')[0]}`;
    }
    if (result && typeof result === 'object' && 'ok' in result) {
      if (result.ok) return result;
      seen = JSON.stringify(result.seen);
    } else if (result) {
      return result;
    }
    if (Date.now() >= deadline) {
      throw new WaitTimeout(`timed out after ${timeoutMs / 1000} s waiting for ${what}; last seen: ${seen}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

const stripSel = (name) => `[data-strip="input"][data-input=${JSON.stringify(name)}]`;

// ----------------------------------------------------------------------- main

const args = parseArgs(process.argv.slice(2));
const nowaitPath = path.resolve(args.nowait);
const workdir = path.resolve(args.workdir);
const screenshot = path.resolve(args.screenshot);
const failureShot = screenshot.replace(/(\.png)?$/i, '-failure.png');
const phoneShot = screenshot.replace(/(\.png)?$/i, '-phone.png');

let child = null;
let childExit = null; // {code, signal} once it has exited
let stdoutText = '';
let stderrText = '';
let browser = null;
let page = null;
const consoleErrors = [];

async function stopChild() {
  if (!child || childExit) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const pid = child.pid;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  const timer = new Promise((resolve) => setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS));
  if ((await Promise.race([exited, timer])) === 'timeout' && !childExit) {
    log(`nowait (pid ${pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s of SIGINT; sending SIGKILL`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  }
}

async function cleanup() {
  if (browser) {
    await browser.close().catch(() => {});
    browser = null;
  }
  await stopChild();
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    log(`interrupted by ${signal} while ${step}`);
    cleanup().finally(() => process.exit(1));
  });
}

async function startNowait(listen = '127.0.0.1:0') {
  fs.mkdirSync(workdir, { recursive: true });
  childExit = null;
  stdoutText = '';
  stderrText = '';
  const configPath = path.join(workdir, 'e2e.toml');
  fs.writeFileSync(configPath, CONFIG);
  step = `starting ${nowaitPath}`;
  child = spawn(nowaitPath, ['run', configPath, '--listen', listen, '--quiet'], {
    cwd: workdir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.on('exit', (code, signal) => {
    childExit = { code, signal };
  });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    stdoutText += d;
  });
  child.stderr.on('data', (d) => {
    stderrText += d;
  });
  let spawnError = null;
  child.once('error', (err) => {
    spawnError = err;
  });
  const found = await waitFor(
    'nowait to print "nowait: dashboard at http://127.0.0.1:PORT/"',
    async () => {
      const m = /nowait: dashboard at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdoutText);
      if (m) return { ok: true, url: m[1] };
      if (spawnError) throw new Fatal(`could not start ${nowaitPath}: ${spawnError.message}`);
      if (childExit) {
        throw new Fatal(
          `nowait exited (code ${childExit.code}, signal ${childExit.signal}) before listening; ` +
            `stderr: ${stderrText.trim() || '(empty)'}`,
        );
      }
      return { ok: false, seen: stdoutText.trim().split('\n').slice(-2) };
    },
    START_TIMEOUT_MS,
  );
  log(`nowait pid ${child.pid} at ${found.url} (cwd ${workdir})`);
  return found.url;
}

// The engine's view, read over HTTP from node, independent of the page.
async function apiState(base) {
  const res = await fetch(new URL('/api/state', base), { cache: 'no-store' });
  if (!res.ok) throw new Error(`GET /api/state answered ${res.status}`);
  return res.json();
}

function inputOf(state, name) {
  return (state.inputs || []).find((i) => i.name === name);
}

// What a page on another site can send to 127.0.0.1 without the user's help:
// "simple" requests (text/plain, a form) that the browser sends without a
// preflight, no-cors requests, JSON that needs a preflight, and a plain read.
const ATTACK_PAGE = `<!doctype html><meta charset="utf-8"><title>another site</title>
<iframe name="sink" style="display:none"></iframe>
<form id="form" method="POST" enctype="text/plain" target="sink">
  <input name='{"name": "evil form", "source": "tone:100", "x": "' value='"}'>
</form>
<script>
const target = new URLSearchParams(location.search).get('target');
const results = {};
async function attempt(name, path, init) {
  try {
    const res = await fetch(target + path, init);
    results[name] = res.type === 'opaque' ? 'sent, answer unreadable (opaque)' : 'status ' + res.status;
  } catch (err) {
    results[name] = 'refused by the browser: ' + err.name;
  }
}
(async () => {
  const text = { 'Content-Type': 'text/plain' };
  const json = { 'Content-Type': 'application/json' };
  await attempt('POST /api/inputs text/plain', 'api/inputs',
    { method: 'POST', headers: text, body: '{"name": "evil", "source": "file:/etc/passwd"}' });
  await attempt('POST /api/recording/start text/plain', 'api/recording/start',
    { method: 'POST', headers: text, body: '{"file": "evil.wav"}' });
  await attempt('POST /api/inputs no-cors', 'api/inputs',
    { method: 'POST', mode: 'no-cors', headers: text, body: '{"name": "evil2", "source": "tone:100"}' });
  await attempt('POST /api/recording/start no-cors form-urlencoded', 'api/recording/start',
    { method: 'POST', mode: 'no-cors', body: new URLSearchParams({ file: 'evil2.wav' }) });
  await attempt('PATCH /api/master JSON', 'api/master',
    { method: 'PATCH', headers: json, body: '{"gain_db": -120}' });
  await attempt('POST /api/inputs JSON', 'api/inputs',
    { method: 'POST', headers: json, body: '{"name": "evil3", "source": "tone:100"}' });
  await attempt('DELETE /api/inputs/tone A JSON', 'api/inputs/tone%20A', { method: 'DELETE', headers: json });
  await attempt('GET /api/state (read back)', 'api/state', {});
  const form = document.getElementById('form');
  form.action = target + 'api/inputs';
  const loaded = new Promise((resolve) => document.querySelector('iframe').addEventListener('load', resolve, { once: true }));
  form.submit();
  await Promise.race([loaded, new Promise((resolve) => setTimeout(resolve, 3000))]);
  results['form POST /api/inputs text/plain'] = 'submitted';
  window.attackResults = results;
})();
</script>`;

async function attackFromAnotherOrigin(context, base) {
  const before = await apiState(base);
  const filesBefore = fs.readdirSync(workdir, { recursive: true }).sort();
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(ATTACK_PAGE);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const attackUrl = `http://127.0.0.1:${server.address().port}/?target=${encodeURIComponent(base)}`;
  const tab = await context.newPage();
  try {
    step = `loading the foreign page ${attackUrl}`;
    await tab.goto(attackUrl, { waitUntil: 'load' });
    const results = await waitFor('the foreign page to finish its attempts', async () =>
      tab.evaluate(() => window.attackResults),
    );
    for (const [name, outcome] of Object.entries(results)) {
      check(!/^status 2\d\d$/.test(outcome), `the foreign page's ${name} was not answered with success (${outcome})`);
    }
    const after = await apiState(base);
    const mix = (s) =>
      JSON.stringify({
        master: s.master.gain_db,
        inputs: s.inputs.map((i) => [i.name, i.gain_db, i.pan, i.mute]),
        recording: s.recording.active,
      });
    check(mix(after) === mix(before), `the mix is unchanged by the foreign page: before ${mix(before)}, after ${mix(after)}`);
    const filesAfter = fs.readdirSync(workdir, { recursive: true }).sort();
    check(
      JSON.stringify(filesAfter) === JSON.stringify(filesBefore),
      `no file appeared or went away: before ${filesBefore}, after ${filesAfter}`,
    );
    return { results };
  } finally {
    await tab.close();
    await new Promise((resolve) => server.close(resolve));
  }
}

async function main() {
  const base = await startNowait();

  step = 'launching chromium';
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(`console: ${msg.text()} ${JSON.stringify(msg.location())}`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => {
    // The event stream is cut when the browser closes; anything else is a fault.
    if (!req.url().endsWith('/events')) consoleErrors.push(`request failed: ${req.url()} ${req.failure()?.errorText}`);
  });

  step = `loading ${base}`;
  const response = await page.goto(base, { waitUntil: 'load' });
  check(response && response.ok(), `GET / answered ${response && response.status()}`);

  // 3. Live levels and figures.
  const numberRe = /^[-+]?\d+(\.\d+)?$/;
  await waitFor('both input meters to show signal (data-peak-db > -60) and the top bar to be live', async () => {
    const seen = await page.evaluate(
      ({ a, b }) => {
        const peak = (sel) => {
          const meter = document.querySelector(`${sel} .meter`);
          return meter ? Number(meter.getAttribute('data-peak-db')) : null;
        };
        const text = (sel) => document.querySelector(sel)?.textContent.trim();
        return {
          peakA: peak(a),
          peakB: peak(b),
          latency: text('#latency'),
          rtf: text('#rtf'),
          conn: text('#conn'),
        };
      },
      { a: stripSel('tone A'), b: stripSel('tone B') },
    );
    const ok =
      seen.peakA > -60 &&
      seen.peakB > -60 &&
      numberRe.test(seen.latency || '') &&
      numberRe.test(seen.rtf || '') &&
      seen.conn === 'live';
    return { ok, seen };
  });
  log('meters show signal and the top bar is live');

  // 4. tone A's fader, by keyboard and then by mouse; the engine must follow.
  const stripA = page.locator(stripSel('tone A'));
  const faderA = stripA.locator('.fader');
  const before = Number(await faderA.inputValue());
  await faderA.focus();
  for (let i = 0; i < 8; i++) await page.keyboard.press('ArrowDown');
  const keyed = Number(await faderA.inputValue());
  check(keyed < before, `ArrowDown moved tone A's fader down (from ${before} to ${keyed})`);
  await waitFor(`GET /api/state to show tone A at gain_db ${keyed} (set with the keyboard)`, async () => {
    const a = inputOf(await apiState(base), 'tone A');
    return { ok: a && Math.abs(a.gain_db - keyed) <= 0.01, seen: a && a.gain_db };
  });
  log(`keyboard: tone A fader ${before} -> ${keyed} dB, engine agrees`);

  // A drag: press on the thumb, move down in small steps, release.
  const box = await faderA.boundingBox();
  check(box && box.height > 60, `tone A's fader is a usable vertical control (box ${JSON.stringify(box)})`);
  const min = Number(await faderA.getAttribute('min'));
  const max = Number(await faderA.getAttribute('max'));
  const thumbHalf = 7; // style.css: the thumb is 14 px tall
  const yOf = (v) => box.y + thumbHalf + (1 - (v - min) / (max - min)) * (box.height - 2 * thumbHalf);
  const x = box.x + box.width / 2;
  await page.mouse.move(x, yOf(keyed));
  await page.mouse.down();
  const dragTo = yOf(keyed) + Math.min(80, box.height / 3);
  for (let y = yOf(keyed); y <= dragTo; y += 4) await page.mouse.move(x, y);
  await page.mouse.up();
  const dragged = Number(await faderA.inputValue());
  check(dragged < keyed, `dragging moved tone A's fader down (from ${keyed} to ${dragged})`);
  const readout = (await stripA.locator('.gain-readout').textContent()).trim();
  check(Math.abs(Number(readout) - dragged) <= 0.05, `the gain readout "${readout}" matches the fader at ${dragged}`);
  await waitFor(`GET /api/state to show tone A at gain_db ${dragged} (set by dragging)`, async () => {
    const a = inputOf(await apiState(base), 'tone A');
    return { ok: a && Math.abs(a.gain_db - dragged) <= 0.01, seen: a && a.gain_db };
  });
  // The page must still show what the user set once the snapshots catch up.
  await waitFor(`the fader to stay at ${dragged} as snapshots arrive`, async () => {
    const events = await page.evaluate(() => window.nowait.events);
    return events > 0 && Number(await faderA.inputValue()) === dragged;
  });
  log(`mouse: tone A fader ${keyed} -> ${dragged} dB, engine agrees`);

  // 5. Mute tone B: its meter falls to silence and the engine says so.
  const stripB = page.locator(stripSel('tone B'));
  await stripB.locator('.mute').click();
  await waitFor("tone B's meter to fall silent after mute (data-peak-db <= -120 or readout -inf)", async () => {
    const peak = Number(await stripB.locator('.meter').getAttribute('data-peak-db'));
    const text = (await stripB.locator('.peak-readout').textContent()).trim();
    return { ok: peak <= -120 || text === '-inf', seen: { peak, text } };
  });
  check((await stripB.locator('.mute').getAttribute('aria-pressed')) === 'true', "tone B's mute shows pressed");
  await waitFor('GET /api/state to show tone B muted', async () => {
    const b = inputOf(await apiState(base), 'tone B');
    return { ok: b && b.mute === true, seen: b && b.mute };
  });
  log('tone B muted: meter silent, engine agrees');

  // 6. Record for at least a second.
  await page.locator('#rec-start').click();
  await waitFor('#rec-time to reach 00:01', async () => {
    const text = (await page.locator('#rec-time').textContent()).trim();
    const m = /^(\d+):(\d\d)$/.exec(text);
    return { ok: m && Number(m[1]) * 60 + Number(m[2]) >= 1, seen: text };
  });
  const indicatorShown = await page.locator('#rec-indicator').isVisible();
  check(indicatorShown, 'the REC indicator shows while recording');
  await page.locator('#rec-stop').click();
  const recorded = await waitFor('GET /api/state to show the recording stopped with a path', async () => {
    const r = (await apiState(base)).recording || {};
    return { ok: r.active === false && Boolean(r.path), seen: r, path: r.path };
  });
  const file = path.resolve(workdir, recorded.path);
  const size = await waitFor(`the recording ${file} to exist and hold more than a WAV header`, async () => {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    return { ok: st && st.size > 44, seen: st ? st.size : 'missing', size: st && st.size };
  });
  await waitFor('the REC indicator to go away and #rec-start to be enabled again', async () => {
    return !(await page.locator('#rec-indicator').isVisible()) && (await page.locator('#rec-start').isEnabled());
  });
  log(`recorded ${file} (${size.size} bytes)`);

  // 6b. A page from another origin (a second local server on another port)
  //     tries to drive the mix in a second tab. Every attempt must be
  //     refused, the engine must be exactly as before, and the dashboard tab
  //     must keep working.
  const attacked = await attackFromAnotherOrigin(context, base);
  log(`foreign page's attempts: ${JSON.stringify(attacked.results)}`);
  const unmuted = stripB.locator('.mute');
  await unmuted.click();
  await waitFor('the dashboard tab to still work after the attack: unmuting tone B reaches the engine', async () => {
    const b = inputOf(await apiState(base), 'tone B');
    return { ok: b && b.mute === false, seen: b && b.mute };
  });
  log('the dashboard tab still drives the engine');

  // 8. The desktop screenshot, after recording.
  step = `saving the screenshot ${screenshot}`;
  fs.mkdirSync(path.dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot });

  // 7. Phone width: nothing sticks out sideways and the fader is there to use.
  await page.setViewportSize({ width: 390, height: 844 });
  await waitFor('the phone layout (390 px): no horizontal overflow and a visible, usable fader', async () => {
    const seen = await page.evaluate((sel) => {
      const bar = document.querySelector('.topbar');
      const fader = document.querySelector(`${sel} .fader`);
      const r = fader.getBoundingClientRect();
      return {
        barScroll: bar.scrollWidth,
        barClient: bar.clientWidth,
        barRight: bar.getBoundingClientRect().right,
        pageScroll: document.documentElement.scrollWidth,
        faderWidth: r.width,
        faderRight: r.right,
      };
    }, stripSel('tone A'));
    const ok =
      seen.barScroll <= seen.barClient &&
      seen.barRight <= 390 &&
      seen.pageScroll <= 390 &&
      seen.faderWidth >= 100 &&
      seen.faderRight <= 390;
    return { ok, seen };
  });
  check(await faderA.isVisible(), "tone A's fader is visible at phone width");
  await faderA.scrollIntoViewIfNeeded();
  await page.screenshot({ path: phoneShot });
  log('phone layout holds');

  const events = await page.evaluate(() => window.nowait.events);
  check(events > 0, 'the page counted SSE events');
  step = 'checking the console';
  if (consoleErrors.length) throw new Error(`the page logged errors:\n  ${consoleErrors.join('\n  ')}`);

  // 9. The server goes away and comes back on the same port: the page notices
  //    and reconnects by itself. (The browser logs the refused connections
  //    meanwhile; only page errors count from here on.)
  await page.setViewportSize({ width: 1280, height: 720 });
  const port = new URL(base).port;
  step = 'stopping nowait to see the page notice';
  await stopChild();
  await waitFor('#conn to leave "live" once the server is gone', async () => {
    const conn = (await page.locator('#conn').textContent()).trim();
    return { ok: conn !== 'live', seen: conn };
  });
  const eventsBefore = await page.evaluate(() => window.nowait.events);
  consoleErrors.length = 0;
  page.removeAllListeners('console');
  page.removeAllListeners('requestfailed');
  await startNowait(`127.0.0.1:${port}`);
  await waitFor('the page to reconnect by itself: #conn live, events flowing, tone A metered again', async () => {
    const seen = await page.evaluate((sel) => ({
      conn: document.querySelector('#conn')?.textContent.trim(),
      events: window.nowait.events,
      peak: Number(document.querySelector(`${sel} .meter`)?.getAttribute('data-peak-db')),
    }), stripSel('tone A'));
    return { ok: seen.conn === 'live' && seen.events > eventsBefore + 5 && seen.peak > -60, seen };
  }, RECONNECT_TIMEOUT_MS);
  log('the page reconnected by itself after the server restarted');
  if (consoleErrors.length) throw new Error(`the page raised errors while reconnecting:\n  ${consoleErrors.join('\n  ')}`);
  return { events, file, size: size.size };
}

let exitCode = 0;
try {
  const result = await main();
  console.log(
    `e2e: PASS: screenshot ${screenshot} (phone: ${phoneShot}); ${result.events} SSE events received by the page; ` +
      `recording ${result.file} (${result.size} bytes)`,
  );
} catch (err) {
  exitCode = 1;
  console.error(`e2e: FAIL while ${step}`);
  console.error(`e2e: ${err.message}`);
  if (page) {
    await page
      .screenshot({ path: failureShot })
      .then(() => console.error(`e2e: failure screenshot ${failureShot}`))
      .catch(() => {});
  }
  if (consoleErrors.length) console.error(`e2e: page console errors:\n  ${consoleErrors.join('\n  ')}`);
  if (stderrText.trim()) console.error(`e2e: nowait stderr (tail):\n${stderrText.trim().split('\n').slice(-15).join('\n')}`);
} finally {
  await cleanup();
  if (childExit && exitCode === 0 && childExit.code !== 0 && childExit.signal !== 'SIGINT') {
    console.error(`e2e: nowait exited with code ${childExit.code} after SIGINT`);
    exitCode = 1;
  }
}
process.exit(exitCode);

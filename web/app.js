// nowait dashboard: reads the snapshot stream (GET /events, docs/api.md) and
// drives the control API with fetch. Plain JS, no build step, no network
// resources beyond the server that serves it.
//
// Two clocks run here. Snapshots arrive at 10 Hz and update numbers, strips
// and the data-* attributes at once; meters and the scope are painted in
// requestAnimationFrame from the newest snapshot, so a burst of events costs
// one paint and a hidden tab costs none.
'use strict';

(() => {
  const FLOOR_DB = -120; // the API's silence floor
  const METER_MIN_DB = -60;
  const METER_MAX_DB = 6;
  const FADER_DEFAULT_DB = 0;
  const SEND_INTERVAL_MS = 50; // a control sends at most this often while moving
  const USER_GRACE_MS = 700; // snapshots leave a control alone this long after the user touched it
  const STALE_MS = 1500; // no event for this long: the stream is stalled
  const DEAD_MS = 5000; // no event for this long: drop the connection and make a new one
  const TOKEN_KEY = 'nowait.token';

  // Meter scale: piecewise linear in dB, wider near the top where the
  // engineer reads it (as IEC 60268-18 meters are). [dB, height fraction].
  const METER_CURVE = [
    [-60, 0], [-50, 0.08], [-40, 0.18], [-30, 0.32], [-20, 0.5], [-10, 0.7], [0, 0.9], [6, 1],
  ];
  const METER_TICKS = [6, 0, -6, -12, -20, -30, -40, -50, -60];
  const FADER_TICKS = [12, 6, 0, -6, -12, -20, -30, -40, -60];

  const $ = (sel, root = document) => root.querySelector(sel);
  const now = () => performance.now();

  // Exposed for the browser test and for poking at from the devtools console.
  const stats = { events: 0, parseErrors: 0, reconnects: 0, lastSnapshot: null };
  window.nowait = stats;

  // ---------------------------------------------------------------- formatting

  function finite(x, fallback = 0) {
    return typeof x === 'number' && Number.isFinite(x) ? x : fallback;
  }

  function dbToFrac(db) {
    if (!(db > METER_MIN_DB)) return 0;
    if (db >= METER_MAX_DB) return 1;
    for (let i = 1; i < METER_CURVE.length; i++) {
      const [d1, f1] = METER_CURVE[i];
      if (db <= d1) {
        const [d0, f0] = METER_CURVE[i - 1];
        return f0 + ((db - d0) / (d1 - d0)) * (f1 - f0);
      }
    }
    return 1;
  }

  function formatDb(db) {
    if (!(db > FLOOR_DB)) return '-inf';
    const text = db.toFixed(1);
    return db > 0 && text !== '0.0' ? '+' + text : text;
  }

  function formatPan(p) {
    const pct = Math.round(Math.abs(p) * 100);
    if (pct === 0) return 'C';
    return (p < 0 ? 'L' : 'R') + pct;
  }

  function formatBytes(n) {
    n = finite(n);
    if (n < 1024) return n + ' B';
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let i = -1;
    do {
      n /= 1024;
      i++;
    } while (n >= 1024 && i < units.length - 1);
    return n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0) + ' ' + units[i];
  }

  function formatClock(seconds) {
    const s = Math.max(0, Math.floor(finite(seconds)));
    const mm = String(Math.floor(s / 60)).padStart(2, '0');
    const ss = String(s % 60).padStart(2, '0');
    return mm + ':' + ss;
  }

  function formatUptime(seconds) {
    const s = Math.max(0, Math.floor(finite(seconds)));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    return h + ':' + String(m).padStart(2, '0') + ':' + String(sec).padStart(2, '0');
  }

  // Writes only on change: most figures repeat from one event to the next.
  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function setAttr(el, name, value) {
    if (el.getAttribute(name) !== value) el.setAttribute(name, value);
  }

  // ------------------------------------------------------------------ messages

  const messageBox = $('#message');

  // Shows an error until dismissed; a repeat of the newest one bumps its count
  // instead of stacking copies (a fader held against a rejecting server).
  function showError(text) {
    const last = messageBox.lastElementChild;
    if (last && last.dataset.text === text) {
      const n = Number(last.dataset.count) + 1;
      last.dataset.count = String(n);
      $('.msg-count', last).textContent = '×' + n;
      return;
    }
    const item = document.createElement('div');
    item.className = 'msg';
    item.dataset.text = text;
    item.dataset.count = '1';
    const body = document.createElement('span');
    body.className = 'msg-text';
    body.textContent = text;
    const count = document.createElement('span');
    count.className = 'msg-count';
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'msg-close';
    close.textContent = '×';
    close.setAttribute('aria-label', 'Dismiss message');
    close.addEventListener('click', () => {
      item.remove();
      messageBox.hidden = messageBox.childElementCount === 0;
    });
    item.append(body, count, close);
    messageBox.append(item);
    while (messageBox.childElementCount > 5) messageBox.firstElementChild.remove();
    messageBox.hidden = false;
  }

  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !messageBox.hidden) {
      messageBox.replaceChildren();
      messageBox.hidden = true;
    }
  });

  // ---------------------------------------------------------------- token form

  const tokenForm = $('#token-form');
  const tokenInput = $('#token-input');
  let tokenWaiters = null; // pending {resolve, reject}s while the form is open

  function readToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  }

  function askForToken(rejected) {
    return new Promise((resolve, reject) => {
      if (!tokenWaiters) tokenWaiters = [];
      tokenWaiters.push({ resolve, reject });
      $('label', tokenForm).textContent = rejected
        ? 'The token was rejected. Token for changes:'
        : 'This server needs a token for changes:';
      tokenForm.hidden = false;
      tokenInput.focus();
    });
  }

  function settleTokenWaiters(ok) {
    const waiters = tokenWaiters || [];
    tokenWaiters = null;
    tokenForm.hidden = true;
    for (const w of waiters) {
      if (ok) w.resolve();
      else w.reject(new ApiError('a token is needed to change anything on this server', 401));
    }
  }

  tokenForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = tokenInput.value.trim();
    if (!token) return;
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch {
      // Storage refused (privacy mode): the retry below still fails with 401 and asks again.
    }
    tokenInput.value = '';
    settleTokenWaiters(true);
  });
  $('#token-cancel').addEventListener('click', () => settleTokenWaiters(false));

  // ----------------------------------------------------------------------- api

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  // Sends one control request; resolves with the parsed JSON answer, or
  // rejects with ApiError carrying the server's `error` text. A 401 opens the
  // token form and retries once the user gives a token.
  async function api(method, path, body) {
    for (;;) {
      const token = readToken();
      // Every change is JSON, with or without a body: the server refuses any
      // other type, so that no other web page can send one (docs/api.md).
      const headers = { 'Content-Type': 'application/json' };
      if (token) headers.Authorization = 'Bearer ' + token;
      let res;
      try {
        res = await fetch(path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          cache: 'no-store',
        });
      } catch {
        throw new ApiError(`${method} ${decodeURI(path)}: the server did not answer`, 0);
      }
      const text = await res.text().catch(() => '');
      let data = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch {
        data = null;
      }
      if (res.status === 401) {
        if (token) {
          try {
            sessionStorage.removeItem(TOKEN_KEY);
          } catch {
            // nothing stored to remove
          }
        }
        await askForToken(Boolean(token));
        continue;
      }
      if (!res.ok) {
        const reason =
          data && typeof data.error === 'string' && data.error
            ? data.error
            : `${res.status} ${res.statusText || 'error'}`;
        throw new ApiError(reason, res.status);
      }
      return data;
    }
  }

  function report(err) {
    showError(err instanceof ApiError ? err.message : String(err && err.message ? err.message : err));
  }

  const inputPath = (name) => '/api/inputs/' + encodeURIComponent(name);

  // ------------------------------------------------------- continuous controls

  // A range input bound to an API field. While the user moves it, it sends at
  // most every SEND_INTERVAL_MS, one request at a time (so answers cannot
  // arrive out of order), and always sends the value it comes to rest on.
  // Snapshots set it only when the user has left it alone.
  // Controls under a pointer. The pointer may be released anywhere on the
  // page, so one window listener lets go of them all.
  const dragged = new Set();
  for (const type of ['pointerup', 'pointercancel']) {
    window.addEventListener(type, () => {
      for (const control of [...dragged]) control.release();
    });
  }

  class BoundRange {
    constructor(input, { send, show, resetValue }) {
      this.input = input;
      this.send = send;
      this.show = show;
      this.resetValue = resetValue;
      this.dragging = false;
      this.lastUserMs = -Infinity;
      this.inflight = false;
      this.timer = 0;
      this.pending = null; // a value the user set that is not sent yet
      this.confirmed = null; // the value the server is known to have
      this.lastSendMs = -Infinity;

      input.addEventListener('input', () => this.userSet(Number(input.value)));
      input.addEventListener('pointerdown', () => {
        this.dragging = true;
        this.lastUserMs = now();
        dragged.add(this);
      });
      input.addEventListener('blur', () => this.release());
      input.addEventListener('dblclick', () => {
        input.value = String(resetValue);
        this.userSet(Number(input.value));
      });
    }

    release() {
      dragged.delete(this);
      if (!this.dragging) return;
      this.dragging = false;
      this.lastUserMs = now();
    }

    userSet(value) {
      this.lastUserMs = now();
      this.pending = value;
      this.show(value);
      this.pump();
    }

    pump() {
      if (this.inflight || this.timer) return;
      if (this.pending === null) return;
      if (this.pending === this.confirmed) {
        this.pending = null;
        return;
      }
      const wait = SEND_INTERVAL_MS - (now() - this.lastSendMs);
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = 0;
          this.pump();
        }, wait);
        return;
      }
      const value = this.pending;
      this.pending = null;
      this.inflight = true;
      this.lastSendMs = now();
      this.send(value).then(
        () => {
          this.confirmed = value;
        },
        (err) => {
          report(err);
          // Let the next snapshot put the control back to what the server has.
          this.confirmed = null;
          if (this.pending === null) this.lastUserMs = -Infinity;
        },
      ).finally(() => {
        this.inflight = false;
        if (this.lastUserMs !== -Infinity) this.lastUserMs = Math.max(this.lastUserMs, now());
        this.pump();
      });
    }

    get busy() {
      return (
        this.dragging || this.inflight || this.timer !== 0 || this.pending !== null ||
        now() - this.lastUserMs < USER_GRACE_MS
      );
    }

    // Applies the server's value unless the user is at the control. Returns
    // whether it did.
    applyRemote(value) {
      if (this.busy) return false;
      this.confirmed = value;
      const min = Number(this.input.min);
      const max = Number(this.input.max);
      const clamped = String(Math.min(max, Math.max(min, value)));
      if (this.input.value !== clamped) this.input.value = clamped;
      this.show(value);
      return true;
    }
  }

  // --------------------------------------------------------------------- strips

  const stripsBox = $('#strips');
  const noInputs = $('#no-inputs');
  const masterSlot = $('#master-slot');
  const template = $('#strip-template');
  const strips = new Map(); // input name -> Strip
  let master = null;

  function buildScale(el, ticks, toFrac) {
    for (const db of ticks) {
      const tick = document.createElement('span');
      tick.className = 'tick';
      tick.style.bottom = (toFrac(db) * 100).toFixed(2) + '%';
      tick.textContent = db > 0 ? '+' + db : String(db);
      if (db === 0) tick.classList.add('zero');
      el.append(tick);
    }
  }

  const faderFrac = (db) => (db + 60) / 72;

  class Strip {
    // kind: 'input' or 'master'.
    constructor(kind, name) {
      this.kind = kind;
      this.name = name;
      const el = template.content.firstElementChild.cloneNode(true);
      this.el = el;
      el.dataset.strip = kind;
      if (kind === 'input') el.dataset.input = name;
      el.setAttribute('aria-label', kind === 'master' ? 'Master' : `Input ${name}`);
      el.classList.add('strip-' + kind);

      setText($('.strip-name', el), kind === 'master' ? 'MASTER' : name);
      $('.strip-name', el).title = name;
      this.sourceEl = $('.strip-source', el);
      this.meter = $('.meter', el);
      this.meter.setAttribute('aria-label', `${kind === 'master' ? 'Master' : name} level`);
      this.chans = [...el.querySelectorAll('.chan')].map((c) => ({
        peak: $('.peak', c),
        rms: $('.rms', c),
        hold: $('.hold', c),
        shown: { peak: -1, rms: -1, hold: -1 },
      }));
      this.readout = $('.peak-readout', el);
      this.readout.title = 'Peak, dBFS (the louder channel)';
      this.clipBtn = $('.clip', el);
      this.clipBtn.addEventListener('click', () => {
        this.clipBtn.hidden = true;
      });
      buildScale($('.meter-scale', el), METER_TICKS, dbToFrac);
      buildScale($('.fader-scale', el), FADER_TICKS, faderFrac);

      // What the meters should show (from the newest snapshot) and what they
      // show now (falling back at a fixed rate, as a meter's needle would).
      this.target = { peak: [FLOOR_DB, FLOOR_DB], rms: [FLOOR_DB, FLOOR_DB], hold: [FLOOR_DB, FLOOR_DB] };
      this.display = { peak: [FLOOR_DB, FLOOR_DB], rms: [FLOOR_DB, FLOOR_DB] };

      const fader = $('.fader', el);
      const gainReadout = $('.gain-readout', el);
      gainReadout.title = 'Fader gain, dB (double-click the fader for 0 dB)';
      const label = kind === 'master' ? 'Master gain, dB' : `${name} gain, dB`;
      fader.setAttribute('aria-label', label);
      if (kind === 'master') fader.id = 'fader-master';
      this.gain = new BoundRange(fader, {
        resetValue: FADER_DEFAULT_DB,
        show: (db) => {
          setText(gainReadout, formatDb(db));
          setAttr(fader, 'aria-valuetext', formatDb(db) + ' dB');
        },
        send: (db) =>
          kind === 'master'
            ? api('PATCH', '/api/master', { gain_db: db })
            : api('PATCH', inputPath(name), { gain_db: db }),
      });

      const controls = $('.strip-controls', el);
      if (kind === 'master') {
        controls.remove();
        this.sourceEl.textContent = 'mix';
        return;
      }

      const pan = $('.pan', el);
      const panReadout = $('.pan-readout', el);
      pan.setAttribute('aria-label', `${name} pan, left -1 to right +1`);
      this.pan = new BoundRange(pan, {
        resetValue: 0,
        show: (p) => {
          setText(panReadout, formatPan(p));
          setAttr(pan, 'aria-valuetext', formatPan(p));
        },
        send: (p) => api('PATCH', inputPath(name), { pan: p }),
      });

      this.muteBtn = $('.mute', el);
      this.muteBtn.setAttribute('aria-label', `Mute ${name}`);
      this.muteBtn.title = `Mute ${name}`;
      this.mutePending = false;
      this.muteBtn.addEventListener('click', () => this.toggleMute());

      this.underruns = $('.underruns', el);

      this.removeBtn = $('.remove', el);
      this.removeBtn.setAttribute('aria-label', `Remove ${name}`);
      this.removeArmed = 0;
      this.removeBtn.addEventListener('click', () => this.clickRemove());
    }

    toggleMute() {
      if (this.mutePending) return;
      const want = this.muteBtn.getAttribute('aria-pressed') !== 'true';
      this.mutePending = true;
      this.setMuteShown(want);
      api('PATCH', inputPath(this.name), { mute: want })
        .catch((err) => {
          report(err);
          this.setMuteShown(!want);
        })
        .finally(() => {
          this.mutePending = false;
        });
    }

    setMuteShown(muted) {
      setAttr(this.muteBtn, 'aria-pressed', muted ? 'true' : 'false');
      this.el.classList.toggle('muted', muted);
    }

    // Removing a live input is not undoable: the first click arms the button
    // for three seconds, the second removes.
    clickRemove() {
      if (!this.removeArmed) {
        this.removeBtn.classList.add('armed');
        this.removeBtn.textContent = 'Confirm';
        this.removeArmed = setTimeout(() => this.disarmRemove(), 3000);
        return;
      }
      this.disarmRemove();
      this.removeBtn.disabled = true;
      api('DELETE', inputPath(this.name))
        .catch(report)
        .finally(() => {
          this.removeBtn.disabled = false;
        });
    }

    disarmRemove() {
      clearTimeout(this.removeArmed);
      this.removeArmed = 0;
      this.removeBtn.classList.remove('armed');
      this.removeBtn.textContent = 'Remove';
    }

    // Takes one strip's part of a snapshot (an input entry, or the master).
    update(entry) {
      const peak = pair(entry.peak_dbfs);
      const rms = pair(entry.rms_dbfs);
      const hold = pair(entry.hold_dbfs);
      this.target.peak = peak;
      this.target.rms = rms;
      this.target.hold = hold;
      const top = Math.max(peak[0], peak[1]);
      // The attribute carries the number as received, so a test can read it.
      setAttr(this.meter, 'data-peak-db', String(top));
      setAttr(this.meter, 'aria-valuenow', String(Math.max(FLOOR_DB, Math.min(METER_MAX_DB, top))));
      setText(this.readout, formatDb(top));
      this.readout.classList.toggle('over', top > 0);
      if (top > 0) this.clipBtn.hidden = false;

      this.gain.applyRemote(finite(entry.gain_db));
      if (this.kind === 'master') return;

      setText(this.sourceEl, entry.source || '');
      this.sourceEl.title = entry.source || '';
      this.pan.applyRemote(finite(entry.pan));
      if (!this.mutePending) this.setMuteShown(entry.mute === true);
      const ur = finite(entry.underrun_blocks);
      setText(this.underruns, 'UR ' + ur);
      this.underruns.classList.toggle('bad', ur > 0);
      this.underruns.title = `${ur} blocks in which this input ran dry; ${finite(entry.overrun_frames)} frames overran`;
      this.el.classList.toggle('ended', entry.ended === true);
    }

    // Moves the bars toward the targets; called from requestAnimationFrame.
    paint(dtSeconds, live) {
      const fall = 30 * dtSeconds; // dB the bars may fall per frame
      for (let c = 0; c < 2; c++) {
        const tp = live ? this.target.peak[c] : FLOOR_DB;
        const tr = live ? this.target.rms[c] : FLOOR_DB;
        const th = live ? this.target.hold[c] : FLOOR_DB;
        const d = this.display;
        d.peak[c] = tp >= d.peak[c] ? tp : Math.max(tp, d.peak[c] - fall);
        d.rms[c] = tr >= d.rms[c] ? tr : Math.max(tr, d.rms[c] - fall);
        const ch = this.chans[c];
        const fp = dbToFrac(d.peak[c]);
        const fr = dbToFrac(d.rms[c]);
        const fh = dbToFrac(th);
        if (Math.abs(fp - ch.shown.peak) > 0.001) {
          ch.shown.peak = fp;
          ch.peak.style.clipPath = `inset(${((1 - fp) * 100).toFixed(2)}% 0 0 0)`;
        }
        if (Math.abs(fr - ch.shown.rms) > 0.001) {
          ch.shown.rms = fr;
          ch.rms.style.clipPath = `inset(${((1 - fr) * 100).toFixed(2)}% 0 0 0)`;
        }
        if (Math.abs(fh - ch.shown.hold) > 0.001) {
          ch.shown.hold = fh;
          ch.hold.style.transform = `translateY(${((1 - fh) * 100).toFixed(2)}%)`;
          ch.hold.style.opacity = fh > 0 ? '1' : '0';
        }
      }
    }
  }

  function pair(values) {
    if (!Array.isArray(values)) return [FLOOR_DB, FLOOR_DB];
    const l = finite(values[0], FLOOR_DB);
    const r = finite(values.length > 1 ? values[1] : values[0], FLOOR_DB);
    return [l, r];
  }

  function updateStrips(snapshot) {
    const inputs = Array.isArray(snapshot.inputs) ? snapshot.inputs : [];
    const seen = new Set();
    let prev = noInputs;
    for (const entry of inputs) {
      if (!entry || typeof entry.name !== 'string' || seen.has(entry.name)) continue;
      seen.add(entry.name);
      let strip = strips.get(entry.name);
      if (!strip) {
        strip = new Strip('input', entry.name);
        strips.set(entry.name, strip);
      }
      // Keep the mixing order; move a node only when it is out of place, so a
      // control being dragged keeps its focus.
      if (prev.nextSibling !== strip.el) stripsBox.insertBefore(strip.el, prev.nextSibling);
      prev = strip.el;
      strip.update(entry);
    }
    for (const [name, strip] of strips) {
      if (!seen.has(name)) {
        strip.disarmRemove();
        strip.el.remove();
        strips.delete(name);
      }
    }
    noInputs.hidden = strips.size > 0;

    if (!master) {
      master = new Strip('master', 'master');
      masterSlot.append(master.el);
    }
    if (snapshot.master) master.update(snapshot.master);
  }

  // ------------------------------------------------------------------- top bar

  const top = {
    latency: $('#latency'),
    rtf: $('#rtf'),
    drops: $('#drops'),
    drift: $('#drift'),
    p99: $('#p99'),
    misses: $('#misses'),
    clips: $('#clips'),
    uptime: $('#uptime'),
    format: $('#format'),
  };
  let missHistory = []; // [ms, misses] over the last few seconds, to flag fresh misses

  function updateTopBar(s) {
    const p = s.pipeline || {};
    const pm = p.process_ms || {};
    setText(top.latency, finite(p.latency_ms).toFixed(1));
    setText(top.rtf, finite(p.rtf).toFixed(3));
    top.rtf.parentElement.title =
      `Real-time factor: mean ${finite(p.rtf).toFixed(3)}, max ${finite(p.rtf_max).toFixed(3)} over the last second`;
    top.rtf.classList.toggle('warn', finite(p.rtf_max) > 0.5);
    top.rtf.classList.toggle('bad', finite(p.rtf_max) >= 1);
    setText(top.drops, finite(p.drop_percent).toFixed(1));
    top.drops.classList.toggle('bad', finite(p.drop_percent) > 0);
    top.drops.parentElement.title =
      `Blocks in which an input ran dry: ${finite(p.dropped_blocks)} of ${finite(p.total_blocks)}`;
    setText(top.drift, finite(s.drift_ms).toFixed(3));
    top.drift.classList.toggle('warn', Math.abs(finite(s.drift_ms)) > finite(s.block_ms, 2.667));
    setText(top.p99, finite(pm.p99).toFixed(3));
    top.p99.parentElement.title =
      `process() time over the last second: p50 ${finite(pm.p50).toFixed(3)} ms, ` +
      `p99 ${finite(pm.p99).toFixed(3)} ms, max ${finite(pm.max).toFixed(3)} ms; block ${finite(s.block_ms).toFixed(3)} ms`;
    top.p99.classList.toggle('warn', finite(pm.p99) > finite(s.block_ms, Infinity) * 0.5);

    const misses = finite(p.deadline_misses);
    setText(top.misses, String(misses));
    const t = now();
    missHistory.push([t, misses]);
    missHistory = missHistory.filter(([when]) => t - when < 5000);
    top.misses.classList.toggle('bad', misses > missHistory[0][1]);
    top.misses.classList.toggle('warn', misses > 0);

    const clips = finite(p.clipped_samples);
    setText(top.clips, String(clips));
    top.clips.classList.toggle('bad', clips > 0);
    setText(top.uptime, formatUptime(s.uptime_s));
    const rate = finite(s.sample_rate);
    setText(
      top.format,
      rate ? `${+(rate / 1000).toFixed(1)} kHz · ${finite(s.block_frames)} fr (${finite(s.block_ms).toFixed(2)} ms)` : '',
    );
  }

  // ----------------------------------------------------------------- recording

  const rec = {
    start: $('#rec-start'),
    stop: $('#rec-stop'),
    file: $('#rec-file'),
    time: $('#rec-time'),
    size: $('#rec-size'),
    indicator: $('#rec-indicator'),
    problem: $('#rec-problem'),
    name: $('#rec-name'),
    format: $('#rec-format'),
    active: false,
    pending: false,
  };

  function updateRecording(r) {
    r = r || {};
    rec.active = r.active === true;
    rec.indicator.hidden = !rec.active;
    document.body.classList.toggle('recording', rec.active);
    if (!rec.pending) {
      rec.start.disabled = rec.active;
      rec.stop.disabled = !rec.active;
    }
    setText(rec.file, r.path || '–');
    rec.file.title = r.path || '';
    setText(rec.time, formatClock(r.seconds));
    setText(rec.size, r.path ? formatBytes(r.bytes) : '–');
    const problems = [];
    if (r.error) problems.push(r.error);
    if (finite(r.blocks_lost) > 0) problems.push(`${r.blocks_lost} blocks lost`);
    setText(rec.problem, problems.join('; '));
    rec.problem.hidden = problems.length === 0;
  }

  // Sends a start or stop: both buttons are off while it is in flight; on an
  // error they go back to what the latest snapshot says.
  function recordingCall(path, body, onAnswer) {
    rec.pending = true;
    rec.start.disabled = true;
    rec.stop.disabled = true;
    return api('POST', path, body)
      .then(onAnswer)
      .catch((err) => {
        report(err);
        rec.start.disabled = rec.active;
        rec.stop.disabled = !rec.active;
      })
      .finally(() => {
        rec.pending = false;
      });
  }

  rec.start.addEventListener('click', () => {
    const body = {};
    const file = rec.name.value.trim();
    if (file) body.file = file;
    if (rec.format.value) body.sample_format = rec.format.value;
    recordingCall('/api/recording/start', body, () => {
      rec.stop.disabled = false;
    });
  });

  rec.stop.addEventListener('click', () => {
    setText(rec.stop, '■ Finalising…');
    recordingCall('/api/recording/stop', undefined, (answer) => {
      if (answer && answer.path) {
        setText(rec.file, answer.path);
        setText(rec.size, formatBytes(answer.bytes));
        setText(rec.time, formatClock(answer.seconds));
      }
      rec.start.disabled = false;
    }).finally(() => setText(rec.stop, '■ Stop'));
  });

  // --------------------------------------------------------------------- sinks

  const sinkBody = $('#sinks tbody');
  const sinkRows = new Map(); // name -> {tr, cells}
  let noSinksRow = null;

  function updateSinks(list) {
    list = Array.isArray(list) ? list : [];
    const seen = new Set();
    for (const sink of list) {
      if (!sink || typeof sink.name !== 'string') continue;
      seen.add(sink.name);
      let row = sinkRows.get(sink.name);
      if (!row) {
        const tr = document.createElement('tr');
        const cells = {};
        for (const key of ['name', 'type', 'state', 'bytes', 'dropouts', 'lost']) {
          const td = document.createElement(key === 'name' ? 'th' : 'td');
          if (key === 'name') td.scope = 'row';
          if (['bytes', 'dropouts', 'lost'].includes(key)) td.className = 'num';
          cells[key] = td;
          tr.append(td);
        }
        cells.stateText = document.createElement('span');
        cells.stateText.className = 'state';
        cells.errorText = document.createElement('span');
        cells.errorText.className = 'sink-error';
        cells.state.append(cells.stateText, cells.errorText);
        row = { tr, cells };
        sinkRows.set(sink.name, row);
      }
      sinkBody.append(row.tr); // keeps the snapshot's order; a no-op when in place
      const c = row.cells;
      setText(c.name, sink.name);
      if (sink.path) c.name.title = sink.path;
      setText(c.type, String(sink.type || ''));
      const state = String(sink.state || 'unknown');
      setText(c.stateText, state);
      setAttr(c.stateText, 'data-state', state);
      setText(c.errorText, sink.error ? String(sink.error) : '');
      setText(c.bytes, formatBytes(sink.bytes));
      c.bytes.title = `${finite(sink.bytes)} bytes, ${finite(sink.blocks)} blocks`;
      setText(c.dropouts, String(finite(sink.dropouts)));
      c.dropouts.classList.toggle('bad', finite(sink.dropouts) > 0);
      setText(c.lost, String(finite(sink.blocks_lost)));
      c.lost.classList.toggle('bad', finite(sink.blocks_lost) > 0);
    }
    for (const [name, row] of sinkRows) {
      if (!seen.has(name)) {
        row.tr.remove();
        sinkRows.delete(name);
      }
    }
    if (sinkRows.size === 0) {
      if (!noSinksRow) {
        noSinksRow = document.createElement('tr');
        const td = document.createElement('td');
        td.colSpan = 6;
        td.className = 'empty';
        td.textContent = 'No sinks';
        noSinksRow.append(td);
      }
      if (!noSinksRow.isConnected) sinkBody.append(noSinksRow);
    } else if (noSinksRow && noSinksRow.isConnected) {
      noSinksRow.remove();
    }
  }

  // --------------------------------------------------------------------- scope

  const scope = {
    canvas: $('#scope'),
    grid: $('#scope-grid'),
    zoomBtn: $('#scope-zoom'),
    corr: $('#corr'),
    corrDot: $('#corr-dot'),
    ctx: null,
    size: 0, // device pixels, square
    dpr: 1,
    zoom: 1,
    points: null, // newest points not drawn yet
  };
  scope.ctx = scope.canvas.getContext('2d');

  function sizeScope() {
    const box = scope.canvas.parentElement;
    const dpr = window.devicePixelRatio || 1;
    const css = Math.max(1, Math.floor(Math.min(box.clientWidth, box.clientHeight || box.clientWidth)));
    const size = Math.round(css * dpr);
    if (size === scope.size && dpr === scope.dpr) return;
    scope.size = size;
    scope.dpr = dpr;
    for (const c of [scope.canvas, scope.grid]) {
      c.width = size;
      c.height = size;
      c.style.width = css + 'px';
      c.style.height = css + 'px';
    }
    drawScopeGrid();
  }

  function drawScopeGrid() {
    const g = scope.grid.getContext('2d');
    const n = scope.size;
    const mid = n / 2;
    const dpr = scope.dpr;
    g.clearRect(0, 0, n, n);
    g.lineWidth = Math.max(1, dpr);
    g.strokeStyle = '#26303b';
    g.beginPath();
    g.moveTo(0, mid);
    g.lineTo(n, mid);
    g.moveTo(mid, 0);
    g.lineTo(mid, n);
    g.stroke();
    // Full scale at this zoom, and the mono (L = R) and anti-phase diagonals.
    const fs = (n / 2) * 0.95 * scope.zoom;
    g.strokeStyle = '#1f2730';
    g.strokeRect(mid - fs, mid - fs, fs * 2, fs * 2);
    g.setLineDash([4 * dpr, 4 * dpr]);
    g.strokeStyle = '#2d3a47';
    g.beginPath();
    g.moveTo(0, n);
    g.lineTo(n, 0);
    g.moveTo(0, 0);
    g.lineTo(n, n);
    g.stroke();
    g.setLineDash([]);
    g.fillStyle = '#5d6b7a';
    g.font = `${Math.round(10 * dpr)}px system-ui, sans-serif`;
    g.textBaseline = 'top';
    g.fillText('L →', n - 26 * dpr, mid + 4 * dpr);
    g.fillText('R ↑', mid + 4 * dpr, 4 * dpr);
    g.fillText('mono', n - 34 * dpr, 14 * dpr);
  }

  function paintScope() {
    const pts = scope.points;
    if (!pts) return;
    scope.points = null;
    const ctx = scope.ctx;
    const n = scope.size;
    // Persistence: fade what is there instead of clearing it.
    ctx.globalCompositeOperation = 'destination-out';
    ctx.fillStyle = 'rgba(0, 0, 0, 0.35)';
    ctx.fillRect(0, 0, n, n);
    ctx.globalCompositeOperation = 'source-over';
    const pairs = Math.floor(pts.length / 2);
    if (pairs < 1) return;
    const mid = n / 2;
    const fs = (n / 2) * 0.95 * scope.zoom;
    ctx.lineWidth = Math.max(1, 1.25 * scope.dpr);
    ctx.lineJoin = 'round';
    ctx.strokeStyle = 'rgba(110, 231, 160, 0.85)';
    ctx.beginPath();
    for (let i = 0; i < pairs; i++) {
      const x = mid + finite(pts[2 * i]) * fs;
      const y = mid - finite(pts[2 * i + 1]) * fs;
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    if (pairs === 1) ctx.lineTo(mid + finite(pts[0]) * fs + 0.5, mid - finite(pts[1]) * fs);
    ctx.stroke();
  }

  function updateCorrelation(pts) {
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    for (let i = 0; i + 1 < pts.length; i += 2) {
      const x = finite(pts[i]);
      const y = finite(pts[i + 1]);
      sxy += x * y;
      sxx += x * x;
      syy += y * y;
    }
    const denom = Math.sqrt(sxx * syy);
    if (!(denom > 1e-9)) {
      setText(scope.corr, '–');
      scope.corrDot.style.opacity = '0';
      return;
    }
    const r = Math.max(-1, Math.min(1, sxy / denom));
    setText(scope.corr, (r >= 0 ? '+' : '') + r.toFixed(2));
    scope.corr.classList.toggle('bad', r < -0.2);
    scope.corrDot.style.opacity = '1';
    scope.corrDot.style.left = ((r + 1) * 50).toFixed(1) + '%';
    scope.corrDot.classList.toggle('bad', r < -0.2);
  }

  scope.zoomBtn.addEventListener('click', () => {
    scope.zoom = scope.zoom >= 4 ? 1 : scope.zoom * 2;
    setText(scope.zoomBtn, '×' + scope.zoom);
    scope.ctx.clearRect(0, 0, scope.size, scope.size);
    drawScopeGrid();
  });

  new ResizeObserver(sizeScope).observe(scope.canvas.parentElement);
  window.addEventListener('resize', sizeScope); // devicePixelRatio changes with browser zoom

  // ------------------------------------------------------------- event stream

  const connEl = $('#conn');
  let source = null;
  let everLive = false;
  let lastEventMs = 0;
  let backoffMs = 1000;
  let retryTimer = 0;

  function setConn(state, text) {
    setAttr(connEl, 'data-state', state);
    setText(connEl, text || state);
    document.body.classList.toggle('stale', state !== 'live');
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    if (source) source.close();
    setConn(everLive ? 'reconnecting' : 'connecting');
    const es = new EventSource('/events');
    source = es;
    lastEventMs = now();
    es.addEventListener('metrics', (ev) => {
      if (es !== source) return;
      let snapshot;
      try {
        snapshot = JSON.parse(ev.data);
      } catch {
        stats.parseErrors++;
        return;
      }
      if (!snapshot || typeof snapshot !== 'object') return;
      stats.events++;
      lastEventMs = now();
      backoffMs = 1000;
      everLive = true;
      setConn('live');
      handleSnapshot(snapshot);
    });
    es.addEventListener('error', () => {
      if (es !== source) return;
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (the server answered with an error status, or
        // not with an event stream): build a new one, waiting longer each time.
        es.close();
        source = null;
        scheduleReconnect();
      } else {
        setConn('reconnecting');
      }
    });
  }

  function scheduleReconnect() {
    if (retryTimer) return;
    setConn('reconnecting', `reconnecting in ${Math.round(backoffMs / 1000)} s`);
    retryTimer = setTimeout(() => {
      retryTimer = 0;
      stats.reconnects++;
      connect();
    }, backoffMs);
    backoffMs = Math.min(backoffMs * 2, 15000);
  }

  // A stream that stays open but brings nothing (a wedged proxy, a server that
  // stopped ticking) shows as stalled, and after a while is dropped and redone.
  setInterval(() => {
    if (!source) return;
    const quiet = now() - lastEventMs;
    if (quiet > DEAD_MS) {
      source.close();
      source = null;
      scheduleReconnect();
    } else if (quiet > STALE_MS && connEl.dataset.state === 'live') {
      setConn('stalled');
    }
  }, 500);

  function handleSnapshot(s) {
    stats.lastSnapshot = s;
    updateTopBar(s);
    updateStrips(s);
    updateRecording(s.recording);
    updateSinks(s.sinks);
    if (s.scope && Array.isArray(s.scope.points)) {
      scope.points = s.scope.points;
      updateCorrelation(s.scope.points);
    }
  }

  // --------------------------------------------------------------- add input

  const addForm = $('#add-form');
  addForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = $('#add-name').value.trim();
    const sourceSpec = $('#add-source').value.trim();
    if (!name || !sourceSpec) return;
    const body = { name, source: sourceSpec };
    const gainText = $('#add-gain').value.trim();
    if (gainText !== '') body.gain_db = Number(gainText);
    const button = $('button[type=submit]', addForm);
    button.disabled = true;
    api('POST', '/api/inputs', body)
      .then(() => {
        $('#add-name').value = '';
      })
      .catch(report)
      .finally(() => {
        button.disabled = false;
      });
  });

  // ------------------------------------------------------------------ painting

  // Meters move at most every METER_FRAME_MS: a falling bar looks smooth at
  // 30 frames a second, and painting twenty bars at the display's full rate
  // costs a software-rendered browser (no GPU in a rack PC) half a core.
  const METER_FRAME_MS = 32;
  let lastMeterMs = now();
  function frame(t) {
    if (t - lastMeterMs >= METER_FRAME_MS) {
      const dt = Math.min(0.25, (t - lastMeterMs) / 1000);
      lastMeterMs = t;
      const live = connEl.dataset.state === 'live';
      for (const strip of strips.values()) strip.paint(dt, live);
      if (master) master.paint(dt, live);
    }
    paintScope();
    requestAnimationFrame(frame);
  }

  sizeScope();
  connect();
  requestAnimationFrame(frame);
})();

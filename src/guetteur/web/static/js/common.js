/*
 * Guetteur – helpers shared by every page (no dependencies, no network beyond this server).
 *
 * Invariants: every instant exchanged with the server is an integer of UTC microseconds
 * (`*_utc_us`); every instant shown to an operator is Europe/Paris wall-clock time, formatted in
 * French. DOM text is always set with textContent, never innerHTML, so camera names and server
 * messages cannot inject markup.
 */
'use strict';

(function () {
  const TZ = 'Europe/Paris';
  const LOCALE = 'fr-FR';
  const PERCENT = new Intl.NumberFormat(LOCALE, { style: 'percent', maximumFractionDigits: 0 });

  const fmtTime = new Intl.DateTimeFormat(LOCALE, {
    timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  });
  const fmtHourMinute = new Intl.DateTimeFormat(LOCALE, {
    timeZone: TZ, hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  });
  const fmtDateTime = new Intl.DateTimeFormat(LOCALE, {
    timeZone: TZ, day: '2-digit', month: '2-digit', year: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  });
  const fmtLongDate = new Intl.DateTimeFormat(LOCALE, {
    timeZone: TZ, weekday: 'long', day: 'numeric', month: 'long', year: 'numeric',
  });
  const fmtParts = new Intl.DateTimeFormat('en-GB', {
    timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  });
  const fmtNumber1 = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1 });
  const fmtNumber0 = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });

  /** Wall-clock fields of an instant (ms since epoch) in Paris. */
  function parisParts(ms) {
    const out = {};
    for (const p of fmtParts.formatToParts(new Date(ms))) {
      if (p.type !== 'literal') out[p.type] = parseInt(p.value, 10);
    }
    if (out.hour === 24) out.hour = 0;
    return out;
  }

  /** Offset of Paris from UTC at an instant, in ms (+3600000 in winter, +7200000 in summer). */
  function parisOffsetMs(ms) {
    const p = parisParts(ms);
    const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
    return asUtc - Math.floor(ms / 1000) * 1000;
  }

  /**
   * Paris wall-clock fields -> UTC ms. In the autumn repeated hour the earlier instant wins; a
   * time inside the spring-forward gap is read with the winter offset (it lands after the gap).
   */
  function parisFieldsToUtcMs(year, month, day, hour, minute, second) {
    const guess = Date.UTC(year, month - 1, day, hour, minute, second || 0);
    const before = parisOffsetMs(guess - 3 * 3600000);
    const after = parisOffsetMs(guess + 3 * 3600000);
    const valid = [guess - before, guess - after].filter((t, i) => parisOffsetMs(t) === [before, after][i]);
    return valid.length ? Math.min(...valid) : guess - before;
  }

  function pad(n, w) { return String(n).padStart(w || 2, '0'); }

  const G = {
    TZ,
    usToMs(us) { return us / 1000; },
    msToUs(ms) { return Math.round(ms * 1000); },
    nowUs() { return Date.now() * 1000; },
    parisParts,
    parisOffsetMs,
    /** "14:05:09" */
    formatTime(us) { return us == null ? '--:--:--' : fmtTime.format(new Date(us / 1000)); },
    /** "14:05" */
    formatHourMinute(us) { return fmtHourMinute.format(new Date(us / 1000)); },
    /** "25/11/2025 14:05:09" */
    formatDateTime(us) { return us == null ? '—' : fmtDateTime.format(new Date(us / 1000)).replace(',', ''); },
    /** "mardi 25 novembre 2025" */
    formatLongDate(us) { return fmtLongDate.format(new Date(us / 1000)); },
    /** Milliseconds part of an instant, "120". */
    formatMillis(us) { return pad(Math.floor(((us / 1000) % 1000 + 1000) % 1000), 3); },
    /** "1 min 05 s", "2 h 03 min", "12 s" */
    formatDuration(seconds) {
      const s = Math.max(0, Math.round(seconds));
      if (s < 60) return `${s} s`;
      if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
      return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
    },
    /** "1,2 Go", "350 Mo", "12 ko" (decimal units, as disks are sold). */
    formatBytes(n) {
      if (n == null) return '—';
      if (n >= 1e12) return `${fmtNumber1.format(n / 1e12)} To`;
      if (n >= 1e9) return `${fmtNumber1.format(n / 1e9)} Go`;
      if (n >= 1e6) return `${fmtNumber1.format(n / 1e6)} Mo`;
      if (n >= 1e3) return `${fmtNumber0.format(n / 1e3)} ko`;
      return `${fmtNumber0.format(n)} o`;
    },
    formatInt(n) { return n == null ? '—' : fmtNumber0.format(n); },
    formatDecimal(x) { return fmtNumber1.format(x); },
    /** Paris calendar day of an instant, "YYYY-MM-DD". */
    parisDay(us) {
      const p = parisParts(us / 1000);
      return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
    },
    /** Calendar arithmetic on "YYYY-MM-DD" strings. */
    addDays(day, n) {
      const [y, m, d] = day.split('-').map((x) => parseInt(x, 10));
      const t = new Date(Date.UTC(y, m - 1, d + n));
      return `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;
    },
    /** Value for <input type="datetime-local" step="1">, Paris time: "2025-11-25T14:05:09". */
    toDatetimeLocal(us) {
      const p = parisParts(us / 1000);
      return `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
    },
    /** Parse a datetime-local value read as Paris time; returns UTC microseconds or null. */
    fromDatetimeLocal(value) {
      const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/.exec(value || '');
      if (!m) return null;
      const ms = parisFieldsToUtcMs(+m[1], +m[2], +m[3], +m[4], +m[5], +(m[6] || 0));
      return ms * 1000;
    },
    STATE_LABELS: {
      recording: 'Enregistrement',
      reconnecting: 'Reconnexion',
      starting: 'Démarrage',
      disabled: 'Désactivée',
      stopped: 'Arrêtée',
      storage_full: 'Stockage plein',
    },
    stateLabel(state) { return G.STATE_LABELS[state] || 'État inconnu'; },
    /** Create an element: el('a', {href: '/x', class: 'btn', dataset: {id: 1}}, 'texte', child). */
    el(tag, attrs, ...children) {
      const node = document.createElement(tag);
      for (const [k, v] of Object.entries(attrs || {})) {
        if (v == null || v === false) continue;
        if (k === 'class') node.className = v;
        else if (k === 'dataset') Object.assign(node.dataset, v);
        else if (k === 'text') node.textContent = v;
        else if (v === true) node.setAttribute(k, '');
        else node.setAttribute(k, String(v));
      }
      for (const c of children) {
        if (c == null) continue;
        node.append(c instanceof Node ? c : document.createTextNode(String(c)));
      }
      return node;
    },
    /** Send the user to the login page, coming back here afterwards. */
    toLogin() {
      const next = location.pathname + location.search;
      location.assign(`/login?next=${encodeURIComponent(next)}`);
    },
    /** The session's CSRF token (base.html puts it in <meta name="csrf-token">). */
    csrfToken() {
      const meta = document.querySelector('meta[name="csrf-token"]');
      return meta ? meta.getAttribute('content') || '' : '';
    },
    /**
     * GET/POST/PATCH/DELETE JSON on our API. Throws an Error whose message is the server's
     * French message (and whose `field` names the rejected field, if any). A 401 (session
     * expired) sends the user to the login page. State-changing requests carry the session's
     * CSRF token (header X-CSRF-Token); a `body` that is not a string is sent as JSON.
     */
    async fetchJson(url, options) {
      const o = Object.assign({}, options || {});
      const method = (o.method || 'GET').toUpperCase();
      const headers = Object.assign({ Accept: 'application/json' }, o.headers || {});
      if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = G.csrfToken();
      if (o.body != null && typeof o.body !== 'string') {
        o.body = JSON.stringify(o.body);
        headers['Content-Type'] = 'application/json';
      }
      let resp;
      try {
        resp = await fetch(url, Object.assign(o, { method, headers, credentials: 'same-origin' }));
      } catch (err) {
        throw new Error('Serveur injoignable : vérifiez le réseau.');
      }
      if (resp.status === 401) {
        G.toLogin();
        throw new Error('Session expirée : reconnectez-vous.');
      }
      let body = null;
      if (resp.status !== 204) {
        try { body = await resp.json(); } catch (err) { body = null; }
      }
      if (!resp.ok) {
        const msg = body && body.message ? body.message : `Erreur du serveur (${resp.status}).`;
        const e = new Error(msg);
        e.status = resp.status;
        e.field = body && body.field ? body.field : null;
        throw e;
      }
      return body;
    },
    /** Same as fetchJson with a method and a JSON body: G.sendJson('/api/x', 'POST', {...}). */
    sendJson(url, method, body) {
      return G.fetchJson(url, { method, body: body == null ? undefined : body });
    },
    /** French names of a background job's states (exports, plate analyses). */
    JOB_STATES: {
      awaiting_approval: 'en attente d’approbation',
      queued: 'en file',
      running: 'en cours',
      done: 'terminée',
      failed: 'échouée',
      cancelled: 'annulée',
    },
    FINISHED_JOB_STATES: new Set(['done', 'failed', 'cancelled']),
    /**
     * Shows a background job's progress (an export, a plate analysis) in its card: `parts` holds
     * the line, its <progress>, the percentage and time-left spans; `waiting` says why a queued
     * job has not started. Shown while queued, running and done (kept at 100 %: it went through).
     */
    showJobProgress(parts, job, waiting) {
      const pct = job.state === 'done' ? 1 : (job.progress || 0);
      const text = PERCENT.format(pct);
      parts.line.hidden = !['queued', 'running', 'done'].includes(job.state);
      parts.bar.value = Math.round(pct * 1000) / 10;
      parts.bar.setAttribute('aria-valuetext', text);
      parts.bar.title = `Avancement : ${text}`;
      parts.pct.textContent = text;
      let eta = '';
      if (job.state === 'running') {
        eta = job.eta_s != null ? `environ ${G.formatDuration(job.eta_s)} restantes` : 'calcul du temps restant…';
      } else if (job.state === 'queued') {
        eta = waiting;
      }
      parts.eta.textContent = eta;
    },
    /** French names of the roles. */
    ROLE_LABELS: {
      admin: 'Administrateur',
      supervisor: 'Superviseur',
      operator: 'Opérateur',
      investigator: 'Enquêteur (OPJ)',
      landlord: 'Bailleur partenaire',
      auditor: 'Auditeur / DPO',
    },
    roleLabel(role) { return G.ROLE_LABELS[role] || role || '—'; },
    /** The JSON that a template put in <script type="application/json" id="...">. */
    pageData(id) {
      const node = document.getElementById(id || 'page-data');
      return node ? JSON.parse(node.textContent) : {};
    },
    /** True when a keyboard shortcut must not fire (typing in a field, pressing a button). */
    isTyping(ev) {
      const t = ev.target;
      if (!t || !t.tagName) return false;
      if (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName)) return true;
      if (/^(BUTTON|A)$/.test(t.tagName)) return ev.key === ' ' || ev.key === 'Enter';
      return false;
    },
  };

  window.Guetteur = G;
})();

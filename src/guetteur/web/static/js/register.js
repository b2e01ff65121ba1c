/*
 * Guetteur – the register of destructions, holds and transmissions (R252-11).
 *
 * Filters (Paris period, kind of operation) -> GET /api/register?from=&to=&kind=... (newest
 * first, the 500 most recent); « Exporter en CSV » -> /api/register.csv and « Version
 * imprimable » -> /register/print with the same filters (all the entries of the period).
 *
 * Invariants: every instant is shown in Paris time; periods typed in the datetime-local fields
 * are sent as they are (ISO without offset = Europe/Paris for the server); a group of kinds is
 * sent as repeated `kind` parameters; text from the register is set with textContent only.
 */
'use strict';

(function () {
  const G = window.Guetteur;
  const $ = (id) => document.getElementById(id);
  const GROUPS = {
    destructions: ['retention_purge', 'early_purge'],
    holds: ['hold_place', 'hold_release_request', 'hold_release_cancel', 'hold_release_approve'],
    exports: ['export_create', 'export_approve', 'export_done', 'export_failed',
      'export_cancelled', 'export_download'],
    cases: ['case_create', 'case_close'],
  };
  // The register's « details » are `key=value; key=value`: said in French words.
  const DETAIL_LABELS = {
    hold: 'Gel n°',
    held_segments: 'Segments conservés (gel)',
    service: 'Service requérant',
    officer: 'OPJ',
    legal_basis: 'Fondement',
    requisition_date: 'Date de la réquisition',
    motive: 'Motif',
    asked_by: 'Levée demandée par',
    requested_by: 'Demandée par',
    state: 'État',
    error: 'Erreur',
    reason: 'Motif',
    free_bytes_before: 'Octets libres avant',
    free_bytes_after: 'Octets libres après',
    min_free_bytes: 'Seuil d’espace libre (octets)',
    protected_ranges: 'Périodes protégées (gel/extraction)',
  };
  const STATE_WORDS = {
    awaiting_approval: 'en attente d’approbation', queued: 'en file', running: 'en cours',
    done: 'terminée', failed: 'échouée', cancelled: 'annulée',
  };
  const form = $('register-filters');
  const msg = $('register-msg');

  function groupOf(kind) {
    for (const [g, kinds] of Object.entries(GROUPS)) if (kinds.includes(kind)) return g;
    return '';
  }

  function instant(iso) {
    const ms = Date.parse(iso || '');
    return Number.isFinite(ms) ? ms * 1000 : null;
  }

  function query() {
    const q = new URLSearchParams();
    if ($('r-from').value) q.set('from', $('r-from').value);
    if ($('r-to').value) q.set('to', $('r-to').value);
    const kind = $('r-kind').value;
    if (kind.startsWith('group:')) for (const k of GROUPS[kind.slice(6)] || []) q.append('kind', k);
    else if (kind) q.append('kind', kind);
    return q;
  }

  function syncLinks() {
    const qs = query().toString();
    $('register-csv').href = `/api/register.csv${qs ? `?${qs}` : ''}`;
    $('register-print').href = `/register/print${qs ? `?${qs}` : ''}`;
  }

  function rangeText(e) {
    const a = instant(e.range_from_utc);
    const b = instant(e.range_to_utc);
    if (a == null && b == null) return G.el('span', { class: 'muted' }, '—');
    if (a == null || b == null) return G.formatDateTime(a != null ? a : b);
    const sameDay = G.parisDay(a) === G.parisDay(b);
    return `${G.formatDateTime(a)} → ${sameDay ? G.formatTime(b) : G.formatDateTime(b)}`;
  }

  function detailList(text) {
    const pairs = text.split(/; (?=[a-z_]+=)/).map((p) => {
      const i = p.indexOf('=');
      return i > 0 ? [p.slice(0, i), p.slice(i + 1)] : [null, p];
    });
    const dl = G.el('dl', { class: 'small' });
    for (const [key, value] of pairs) {
      let shown = value;
      if (key === 'state') shown = STATE_WORDS[value] || value;
      else if (key === 'requisition_date' && /^\d{4}-\d{2}-\d{2}$/.test(value)) shown = value.split('-').reverse().join('/');
      dl.append(G.el('dt', {}, key ? (DETAIL_LABELS[key] || key) : 'Détail'), G.el('dd', {}, shown));
    }
    return dl;
  }

  function detailCell(e) {
    const td = G.el('td', { class: 'register-detail' });
    const facts = [];
    if (e.segments !== '' && e.segments != null) facts.push(`${G.formatInt(Number(e.segments))} segment${Number(e.segments) > 1 ? 's' : ''}`);
    if (e.size_bytes !== '' && e.size_bytes != null) facts.push(G.formatBytes(Number(e.size_bytes)));
    if (e.export !== '' && e.export != null) facts.push(`extraction n° ${e.export}`);
    if (e.package) facts.push(e.package);
    if (facts.length) td.append(G.el('span', { class: 'block' }, facts.join(' · ')));
    if (e.digest) {
      td.append(G.el('span', { class: 'small block' }, 'Empreinte des segments détruits : ',
        G.el('code', { class: 'mono hash' }, e.digest)));
    }
    if (e.manifest_sha256) {
      td.append(G.el('span', { class: 'small block' }, 'Manifeste (SHA-256) : ',
        G.el('code', { class: 'mono hash' }, e.manifest_sha256)));
    }
    if (e.details) td.append(detailList(e.details));
    if (!td.childNodes.length) td.append(G.el('span', { class: 'muted' }, '—'));
    return td;
  }

  function row(e) {
    const at = instant(e.at_utc);
    return G.el('tr', { dataset: { entryId: e.id, kind: e.kind, group: groupOf(e.kind) } },
      G.el('td', { class: 'num', title: `Empreinte : ${e.hash}` }, String(e.id)),
      G.el('td', { class: 'nowrap' }, at != null ? G.formatDateTime(at) : e.at_paris),
      G.el('td', { class: 'register-kind' }, e.label),
      G.el('td', {}, e.username || G.el('span', { class: 'muted' }, 'système')),
      G.el('td', {}, e.camera || G.el('span', { class: 'muted' }, '—')),
      G.el('td', { class: 'nowrap' }, rangeText(e)),
      G.el('td', {}, e.case ? G.el('span', { class: 'case-ref' }, e.case) : G.el('span', { class: 'muted' }, '—')),
      detailCell(e));
  }

  async function load() {
    msg.hidden = true;
    syncLinks();
    try {
      const res = await G.fetchJson(`/api/register?${query()}`);
      const entries = res.entries || [];
      $('register-body').replaceChildren(...entries.map(row));
      $('register-empty').hidden = entries.length > 0;
      $('register-wrap').hidden = entries.length === 0;
      $('register-summary').textContent = entries.length
        ? `${G.formatInt(entries.length)} inscription${entries.length > 1 ? 's' : ''}${entries.length >= 500 ? ' (les plus récentes)' : ''}`
        : 'Aucune inscription';
    } catch (err) {
      $('register-summary').textContent = '';
      msg.textContent = `Impossible de lire le registre : ${err.message}`;
      msg.hidden = false;
      if (err.field) {
        const field = form.querySelector(`[name="${CSS.escape(err.field)}"]`);
        if (field) field.setAttribute('aria-invalid', 'true');
      }
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    form.querySelectorAll('[aria-invalid]').forEach((n) => n.removeAttribute('aria-invalid'));
    load();
  });
  form.addEventListener('reset', () => setTimeout(load, 0));
  for (const id of ['r-from', 'r-to', 'r-kind']) $(id).addEventListener('change', syncLinks);
  $('r-kind').addEventListener('change', load);

  load();
  window.guetteurRegister = { load };
})();

/*
 * Guetteur – plate search page.
 *
 * GET /api/cases fills « Réquisition » (preselected from ?case=, an id or a reference), GET
 * /api/cameras the optional camera filter (the cameras the user may replay). A search is GET
 * /api/plates/search?q=&fuzzy=&case=&camera_id=...&from=&to=&limit=; the periods are the
 * datetime-local values as typed (Paris time: the server reads an ISO time without offset as
 * Europe/Paris). The search is also written in the page's address (history.replaceState), so
 * that coming back from the playback shows the same results again.
 *
 * Each hit is a card: the plate's picture (crop_url, checked and logged by the server), the
 * plate, camera, Paris time, confidence, number of reads and distance to the query. A card is a
 * link to its playback_url (/playback/{camera}?t={first_utc_us}) in the same tab; the case
 * reference is left in sessionStorage where the playback page prefills its case field.
 *
 * Invariants: server text is set with textContent only; a refusal (e.g. no case in the
 * `commune` mode) is shown as the server words it.
 */
'use strict';

(function () {
  const G = window.Guetteur;
  const $ = (id) => document.getElementById(id);
  const data = G.pageData();
  const CASE_KEY = 'guetteur.caseRef'; // read by playback.js
  const LIMIT = 100;
  const KINDS = { siv: 'SIV', fni: 'FNI', foreign: 'autre format' };
  const fmtPct = new Intl.NumberFormat('fr-FR', { style: 'percent', maximumFractionDigits: 0 });

  const form = $('plates-search');
  const q = $('p-q');
  const fuzzy = $('p-fuzzy');
  const caseSel = $('p-case');
  const from = $('p-from');
  const to = $('p-to');
  const msg = $('plates-msg');
  const summary = $('plates-summary');
  const grid = $('plate-results');
  let cases = [];

  function alertMsg(text) {
    msg.textContent = text || '';
    msg.hidden = !text;
  }

  function selectedCase() {
    return cases.find((c) => String(c.id) === caseSel.value) || null;
  }

  // ------------------------------------------------------------------ form

  async function loadCases() {
    try {
      cases = await G.fetchJson('/api/cases');
    } catch (err) {
      cases = [];
      alertMsg(`Liste des réquisitions indisponible : ${err.message}`);
    }
    const open = cases.filter((c) => !c.closed);
    const closed = cases.filter((c) => c.closed);
    const option = (c) => G.el('option', { value: c.id },
      `${c.reference} – ${c.service}${c.closed ? ' (close)' : ''}`);
    caseSel.append(...open.map(option));
    if (closed.length) caseSel.append(G.el('optgroup', { label: 'Réquisitions closes' }, ...closed.map(option)));
  }

  function chooseCase(ref) {
    if (!ref) return;
    const found = cases.find((c) => String(c.id) === String(ref) || c.reference === ref);
    if (found) caseSel.value = String(found.id);
  }

  async function loadCameras() {
    const box = $('p-cameras');
    let cameras = [];
    try {
      cameras = await G.fetchJson('/api/cameras');
    } catch (err) {
      box.replaceChildren(G.el('span', { class: 'muted small' }, `Liste des caméras indisponible : ${err.message}`));
      return;
    }
    const mine = cameras.filter((c) => Array.isArray(c.can) && (c.can.includes('playback') || c.can.includes('export')));
    if (!mine.length) {
      box.replaceChildren(G.el('span', { class: 'muted small' }, 'Aucune caméra que vous pouvez relire.'));
      return;
    }
    box.replaceChildren(...mine.map((c) => G.el('label', { class: 'check', for: `p-cam-${c.id}` },
      G.el('input', { type: 'checkbox', id: `p-cam-${c.id}`, name: 'camera_id', value: c.id }),
      c.name, c.site ? G.el('span', { class: 'muted small' }, ` – ${c.site}`) : null)));
  }

  function cameraIds() {
    return [...form.querySelectorAll('input[name="camera_id"]:checked')].map((i) => i.value);
  }

  /** The form as query parameters (also the page's address). */
  function params() {
    const p = new URLSearchParams();
    p.set('q', q.value.trim());
    if (fuzzy.value !== '0') p.set('fuzzy', fuzzy.value);
    if (caseSel.value) p.set('case', caseSel.value);
    for (const id of cameraIds()) p.append('camera_id', id);
    if (from.value) p.set('from', from.value);
    if (to.value) p.set('to', to.value);
    return p;
  }

  function fromAddress() {
    const p = new URLSearchParams(location.search);
    chooseCase(p.get('case') || data.case);
    q.value = p.get('q') || '';
    if (['0', '1', '2'].includes(p.get('fuzzy'))) fuzzy.value = p.get('fuzzy');
    const ids = new Set(p.getAll('camera_id'));
    form.querySelectorAll('input[name="camera_id"]').forEach((i) => { i.checked = ids.has(i.value); });
    from.value = p.get('from') || '';
    to.value = p.get('to') || '';
    return Boolean(q.value);
  }

  // ------------------------------------------------------------------ results

  function distanceText(d) {
    return d > 0 ? `≈ ${G.formatDecimal(d)}` : 'exacte';
  }

  function card(h, ref) {
    const thumb = G.el('div', { class: 'plate-thumb' });
    if (h.crop_url) {
      const img = G.el('img', { src: h.crop_url, alt: `Plaque ${h.plate}`, loading: 'lazy', decoding: 'async' });
      img.addEventListener('error', () => thumb.replaceChildren(G.el('span', { class: 'muted small' }, 'Vignette indisponible')));
      thumb.append(img);
    } else {
      thumb.append(G.el('span', { class: 'muted small' }, 'Pas de vignette'));
    }
    const seen = Math.max(0, (h.last_utc_us - h.first_utc_us) / 1e6);
    const a = G.el('a', {
      class: 'plate-card', href: h.playback_url,
      title: `Relire ${h.camera} à ${G.formatTime(h.first_utc_us)} (véhicule vu pendant ${G.formatDuration(seen)})`,
      dataset: { passageId: h.passage_id, cameraId: h.camera_id, firstUtcUs: h.first_utc_us, distance: h.distance },
    },
    thumb,
    G.el('div', { class: 'plate-line' },
      G.el('span', { class: 'plate-text' }, h.plate),
      G.el('span', {
        class: `pill plate-distance${h.distance > 0 ? ' pill-warn' : ' pill-ok'}`,
        title: h.distance > 0 ? `Écart avec la recherche : ${G.formatDecimal(h.distance)} différence(s) (une confusion courante de lecture compte pour 0,5)` : 'Correspond exactement à la recherche',
      }, distanceText(h.distance))),
    G.el('div', { class: 'plate-cam' }, h.camera),
    G.el('div', { class: 'plate-time' }, G.formatDateTime(h.first_utc_us)),
    G.el('div', { class: 'plate-facts muted small' },
      `confiance ${fmtPct.format(h.confidence)} · ${G.formatInt(h.reads)} lecture${h.reads > 1 ? 's' : ''}`
      + (KINDS[h.kind] ? ` · ${KINDS[h.kind]}` : '')));
    a.addEventListener('click', () => {
      // the playback page asks investigators for the case: prefilled with this one
      if (ref) { try { sessionStorage.setItem(CASE_KEY, ref); } catch (err) { /* private mode */ } }
    });
    return a;
  }

  function render(answer, theCase) {
    const hits = answer.hits || [];
    const where = theCase ? ` (réquisition ${theCase.reference})` : '';
    if (!hits.length) {
      summary.textContent = '';
      grid.replaceChildren(G.el('p', { class: 'empty plate-empty' }, `Aucun passage trouvé pour « ${answer.query} »${where}.`));
      return;
    }
    summary.textContent = `${G.formatInt(hits.length)} passage${hits.length > 1 ? 's' : ''} trouvé${hits.length > 1 ? 's' : ''} pour « ${answer.query} »${where}`
      + (hits.length >= LIMIT ? ` : les ${LIMIT} meilleurs ; précisez la plaque, les caméras ou la période.` : '.')
      + ' Cliquez sur un passage pour le relire.';
    grid.replaceChildren(...hits.map((h) => card(h, theCase ? theCase.reference : null)));
  }

  async function search() {
    form.querySelectorAll('[aria-invalid]').forEach((n) => n.removeAttribute('aria-invalid'));
    alertMsg('');
    if (!q.value.trim()) {
      q.setAttribute('aria-invalid', 'true');
      alertMsg('Tapez la plaque ou une partie de la plaque (par exemple AB-123-CD ou AB-1*).');
      q.focus();
      return;
    }
    const p = params();
    history.replaceState(null, '', `/plates?${p}`);
    p.set('limit', String(LIMIT));
    const btn = $('p-submit');
    btn.disabled = true;
    summary.textContent = 'Recherche…';
    const theCase = selectedCase();
    try {
      render(await G.fetchJson(`/api/plates/search?${p}`), theCase);
    } catch (err) {
      summary.textContent = '';
      grid.replaceChildren();
      let text = err.message;
      let field = { q, fuzzy, case: caseSel, from, to }[err.field];
      if (err.status === 403 && !caseSel.value) {
        text += cases.length ? ' Choisissez la réquisition dans la liste « Réquisition ».'
          : ' Aucune réquisition ne vous est accessible : enregistrez-la d’abord (page « Réquisitions »).';
        field = caseSel;
      }
      alertMsg(text);
      if (field) { field.setAttribute('aria-invalid', 'true'); field.focus(); }
    } finally {
      btn.disabled = false;
    }
  }

  form.addEventListener('submit', (ev) => { ev.preventDefault(); search(); });
  form.addEventListener('reset', () => {
    alertMsg('');
    summary.textContent = '';
    grid.replaceChildren();
    history.replaceState(null, '', caseSel.value ? `/plates?case=${encodeURIComponent(caseSel.value)}` : '/plates');
    const keep = caseSel.value;
    setTimeout(() => { caseSel.value = keep; q.focus(); }); // the case stays chosen
  });

  Promise.all([loadCases(), loadCameras()]).then(() => {
    const again = fromAddress();
    form.dataset.ready = '1';
    if (again) search(); else q.focus();
  });
})();

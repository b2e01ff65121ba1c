/*
 * Guetteur – one judicial case: details, holds (« gels ») and evidence exports.
 *
 * GET /api/cases/{id} gives the case with its holds and exports. Holds: POST
 * /api/cases/{id}/holds {camera_ids, from, to}; a release takes two people: POST
 * /api/holds/{id}/release {reason} (ask), /approve (someone else), /cancel (withdraw). Exports:
 * POST /api/cases/{id}/exports {camera_ids, from, to} -> a job, followed with GET
 * /api/exports/{id} every 0.5 s while it is queued or running (every 5 s while it awaits
 * approval); /cancel, /approve; when done, its download_url gives the signed .zip.
 *
 * Plate reading (« Lecture de plaques ») is case_plates.js, started here with what it shares.
 *
 * Invariants: periods typed in the datetime-local fields are Paris time and sent as they are
 * (ISO without offset: the server reads them as Europe/Paris); every instant shown is Paris
 * time; an export's card is updated in place (its <progress> element stays the same node);
 * every API error is shown in French next to what failed; text from the server is set with
 * textContent only. Buttons follow `rights` (the domain's rules, given by the page); the server
 * decides again on every request.
 */
'use strict';

(function () {
  const G = window.Guetteur;
  const $ = (id) => document.getElementById(id);
  const data = G.pageData();
  const me = data.me;
  const rights = data.rights;
  const caseUrl = `/api/cases/${encodeURIComponent(data.case_id)}`;
  const POLL_MS = 500;
  const POLL_WAITING_MS = 5000;
  const CONFIRM_MS = 4000;

  const EXPORT_STATES = G.JOB_STATES;
  const FINISHED = G.FINISHED_JOB_STATES;

  let cameras = [];
  const cameraNames = new Map();
  let theCase = null;
  const exportCards = new Map(); // job id -> {node, job}
  const plates = window.GuetteurCasePlates({
    caseId: data.case_id, caseUrl, me, rights, platesSearch: !!data.plates_search,
    cameraLabel: (id) => cameraLabel(id), rangeText: (a, b) => rangeText(a, b),
    confirmButton: (...a) => confirmButton(...a), say: (...a) => say(...a),
  });

  // ------------------------------------------------------------------ messages

  function say(node, text, level) {
    node.textContent = text || '';
    if (level) node.dataset.level = level; else delete node.dataset.level;
    if (node.classList.contains('alert')) node.hidden = !text;
  }

  function cameraLabel(id) { return cameraNames.get(String(id)) || `Caméra n° ${id}`; }

  function dateFr(isoDay) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(isoDay || '');
    return m ? `${m[3]}/${m[2]}/${m[1]}` : (isoDay || '—');
  }

  /** "25/11/2026 14:00:00 → 14:10:00" the same day, full dates otherwise. */
  function rangeText(a, b) {
    const sameDay = G.parisDay(a) === G.parisDay(b);
    return `${G.formatDateTime(a)} → ${sameDay ? G.formatTime(b) : G.formatDateTime(b)}`;
  }

  /** A button that acts only on a second click within a few seconds. */
  function confirmButton(label, confirmLabel, attrs, action) {
    const btn = G.el('button', Object.assign({ type: 'button', class: 'btn btn-small' }, attrs || {}), label);
    let timer = null;
    btn.addEventListener('click', async () => {
      if (!btn.classList.contains('confirming')) {
        btn.classList.add('confirming');
        btn.textContent = confirmLabel;
        timer = setTimeout(() => { btn.classList.remove('confirming'); btn.textContent = label; }, CONFIRM_MS);
        return;
      }
      clearTimeout(timer);
      btn.disabled = true;
      try { await action(); } finally {
        btn.disabled = false;
        btn.classList.remove('confirming');
        btn.textContent = label;
      }
    });
    return btn;
  }

  // ------------------------------------------------------------------ the case

  function renderCase(c) {
    theCase = c;
    $('case-reference').textContent = c.reference;
    document.title = `Réquisition ${c.reference} – Guetteur`;
    $('case-state').replaceChildren(c.closed
      ? G.el('span', { class: 'pill pill-off', dataset: { state: 'closed' } },
        `Close le ${G.formatDateTime(c.closed_utc_us)} par ${c.closed_by}`)
      : G.el('span', { class: 'pill pill-ok', dataset: { state: 'open' } }, 'Ouverte'));
    $('d-service').textContent = c.service;
    $('d-officer').textContent = c.officer;
    $('d-date').textContent = dateFr(c.requisition_date);
    $('d-basis').textContent = c.legal_basis;
    $('d-created').textContent = `${c.created_by}, le ${G.formatDateTime(c.created_utc_us)}`;
    $('d-description').replaceChildren(c.description || G.el('span', { class: 'muted' }, '—'));
    const close = $('case-close');
    if (close) close.hidden = c.closed;
    renderHolds(c.holds || []);
    renderExports(c.exports || []);
    plates.prefill(c.holds || []);
  }

  async function loadCase() {
    try {
      renderCase(await G.fetchJson(caseUrl));
      say($('case-msg'), '');
    } catch (err) {
      say($('case-msg'), `Impossible de charger la réquisition : ${err.message}`, 'error');
    }
  }

  const closeBtn = $('case-close');
  if (closeBtn) {
    const btn = confirmButton('Clore la réquisition', 'Confirmer la clôture', { id: 'case-close', class: 'btn btn-small btn-danger' }, async () => {
      try {
        renderCase(Object.assign({}, theCase, await G.sendJson(`${caseUrl}/close`, 'POST')));
        say($('case-msg'), '');
        loadCase();
      } catch (err) {
        say($('case-msg'), `Clôture impossible : ${err.message}`, 'error');
      }
    });
    btn.hidden = true;
    closeBtn.replaceWith(btn);
  }

  // ------------------------------------------------------------------ holds

  function holdState(h) {
    if (h.state === 'released') {
      return [G.el('span', { class: 'pill pill-off' }, `Levé par ${h.released_by}`),
        G.el('span', { class: 'muted small block' },
          `le ${G.formatDateTime(h.released_utc_us)}, à la demande de ${h.release_requested_by || '?'}`),
        h.release_reason ? G.el('span', { class: 'muted small block' }, `Motif : ${h.release_reason}`) : null];
    }
    if (h.state === 'release_requested') {
      return [G.el('span', { class: 'pill pill-warn' }, `Levée demandée par ${h.release_requested_by}`),
        G.el('span', { class: 'muted small block' }, `le ${G.formatDateTime(h.release_requested_utc_us)}`),
        G.el('span', { class: 'small block' }, `Motif : ${h.release_reason || '—'}`)];
    }
    return [G.el('span', { class: 'pill pill-hold' }, 'Actif'),
      G.el('span', { class: 'muted small block' }, 'images conservées')];
  }

  async function holdAction(h, verb, body) {
    const msg = $('holds-action-msg');
    try {
      await G.sendJson(`/api/holds/${encodeURIComponent(h.id)}/${verb}`, 'POST', body);
      const done = { release: 'Levée demandée : un superviseur ou un administrateur doit l’approuver.',
        approve: 'Gel levé.', cancel: 'Demande de levée retirée : le gel reste actif.' };
      say(msg, `${cameraLabel(h.camera_id)} : ${done[verb]}`, 'ok');
      await loadCase();
    } catch (err) {
      say(msg, `${cameraLabel(h.camera_id)} : ${err.message}`, 'error');
    }
  }

  /** « Demander la levée »: a motive is required; asked in the row itself. */
  function askReleaseForm(h, cell) {
    const input = G.el('input', { type: 'text', class: 'release-reason', maxlength: '500', required: true,
      placeholder: 'Motif de la levée (obligatoire)', 'aria-label': 'Motif de la levée' });
    const send = G.el('button', { type: 'submit', class: 'btn btn-small btn-primary' }, 'Envoyer la demande');
    const cancel = G.el('button', { type: 'button', class: 'btn btn-small btn-ghost' }, 'Annuler');
    const form = G.el('form', { class: 'release-form', novalidate: true }, input, send, cancel);
    cancel.addEventListener('click', () => renderHolds(theCase.holds || []));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const reason = input.value.trim();
      if (!reason) {
        input.setAttribute('aria-invalid', 'true');
        say($('holds-action-msg'), 'Indiquez le motif de la levée (par exemple : « classement de l’affaire, avis du parquet du … »).', 'warn');
        input.focus();
        return;
      }
      send.disabled = true;
      await holdAction(h, 'release', { reason });
      send.disabled = false;
    });
    cell.replaceChildren(form);
    input.focus();
  }

  function holdActions(h) {
    const cell = G.el('td', { class: 'actions' });
    if (h.state === 'active' && rights.ask_release) {
      const btn = G.el('button', { type: 'button', class: 'btn btn-small', dataset: { action: 'ask-release' } }, 'Demander la levée');
      btn.addEventListener('click', () => askReleaseForm(h, cell));
      cell.append(btn);
    } else if (h.state === 'release_requested') {
      if (rights.approve_release && h.release_requested_by !== me.username) {
        cell.append(confirmButton('Approuver la levée', 'Confirmer : lever le gel',
          { class: 'btn btn-small btn-primary', dataset: { action: 'approve-release' } },
          () => holdAction(h, 'approve')));
      } else if (rights.approve_release) {
        cell.append(G.el('span', { class: 'muted small block' }, 'À approuver par une autre personne'));
      }
      if (rights.ask_release) {
        const btn = G.el('button', { type: 'button', class: 'btn btn-small', dataset: { action: 'cancel-release' } }, 'Retirer la demande');
        btn.addEventListener('click', async () => { btn.disabled = true; await holdAction(h, 'cancel'); btn.disabled = false; });
        cell.append(btn);
      }
    }
    return cell;
  }

  function holdRow(h) {
    const cam = cameras.find((c) => c.id === h.camera_id);
    const canPlay = cam && Array.isArray(cam.can) && cam.can.includes('playback');
    const name = canPlay
      ? G.el('a', { href: `/playback/${encodeURIComponent(h.camera_id)}?day=${G.parisDay(h.start_utc_us)}&t=${h.start_utc_us}`,
        title: 'Relire ces images' }, h.camera_name)
      : h.camera_name;
    const secs = (h.end_utc_us - h.start_utc_us) / 1e6;
    return G.el('tr', { class: h.state === 'released' ? 'row-released' : null, dataset: { holdId: h.id, state: h.state, cameraId: h.camera_id } },
      G.el('td', { class: 'cam-name' }, name),
      G.el('td', { class: 'nowrap' }, rangeText(h.start_utc_us, h.end_utc_us),
        G.el('span', { class: 'muted small block' }, `durée ${G.formatDuration(secs)}`)),
      G.el('td', {}, h.placed_by, G.el('span', { class: 'muted small block nowrap' }, `le ${G.formatDateTime(h.placed_utc_us)}`)),
      G.el('td', { class: 'hold-state' }, ...holdState(h)),
      holdActions(h));
  }

  function renderHolds(holds) {
    $('holds-body').replaceChildren(...holds.map(holdRow));
    $('holds-wrap').hidden = holds.length === 0;
    $('holds-empty').hidden = holds.length > 0;
  }

  // ------------------------------------------------------------------ exports

  function exportCard(job) {
    const node = G.el('article', { class: 'export', dataset: { exportId: job.id } });
    const head = G.el('div', { class: 'export-head' },
      G.el('strong', {}, `Extraction n° ${job.id}`),
      G.el('span', { class: 'pill export-state' }),
      G.el('span', { class: 'export-what' }));
    const meta = G.el('p', { class: 'export-meta muted small' });
    const progress = G.el('progress', { class: 'export-progress-bar', max: '100', value: '0' });
    const line = G.el('div', { class: 'export-progress' }, progress,
      G.el('span', { class: 'export-pct' }), G.el('span', { class: 'export-eta muted' }),
      G.el('span', { class: 'export-bytes muted small' }));
    const result = G.el('div', { class: 'export-result' });
    const error = G.el('p', { class: 'export-error form-msg', dataset: { level: 'error' } });
    const actions = G.el('div', { class: 'export-actions' });
    node.append(head, meta, line, result, error, actions);
    return node;
  }

  function exportActions(job) {
    const out = [];
    if (FINISHED.has(job.state)) return out;
    if (job.state === 'awaiting_approval' && rights.approve_export && job.requested_by !== me.username) {
      out.push(confirmButton('Approuver', 'Confirmer l’approbation',
        { class: 'btn btn-small btn-primary', dataset: { action: 'approve-export' } },
        () => exportAction(job, 'approve')));
    }
    if (job.requested_by === me.username || rights.cancel_any_export) {
      out.push(confirmButton('Annuler', 'Confirmer l’annulation',
        { class: 'btn btn-small btn-danger', dataset: { action: 'cancel-export' } },
        () => exportAction(job, 'cancel')));
    }
    return out;
  }

  function updateExport(job) {
    let entry = exportCards.get(job.id);
    if (!entry) {
      entry = { node: exportCard(job), job: null };
      exportCards.set(job.id, entry);
    }
    const previous = entry.job;
    entry.job = job;
    const n = entry.node;
    n.dataset.state = job.state;
    const q = (sel) => n.querySelector(sel);

    const pill = q('.export-state');
    pill.textContent = EXPORT_STATES[job.state] || job.state;
    pill.dataset.state = job.state;
    const names = job.camera_ids.map(cameraLabel).join(', ');
    q('.export-what').textContent = `${names} · ${rangeText(job.start_utc_us, job.end_utc_us)}`;
    let meta = `Demandée par ${job.requested_by} le ${G.formatDateTime(job.requested_utc_us)}`;
    if (job.approved_by) meta += ` · approuvée par ${job.approved_by}`;
    if (job.finished_utc_us && job.state === 'done') meta += ` · produite le ${G.formatDateTime(job.finished_utc_us)}`;
    q('.export-meta').textContent = meta;

    // Progress: queued, running, done (kept at 100 %, it tells the operator it went through).
    G.showJobProgress({ line: q('.export-progress'), bar: q('progress'), pct: q('.export-pct'),
      eta: q('.export-eta') }, job, 'en attente de démarrage (une extraction à la fois)');
    q('.export-bytes').textContent = job.state === 'running'
      ? `${G.formatBytes(job.bytes_done)} lus sur ${G.formatBytes(job.bytes_total)}`
      : (job.state === 'queued' ? `${G.formatBytes(job.bytes_total)} à lire` : '');

    // The result: the package, its size and the manifest's SHA-256.
    const result = q('.export-result');
    if (job.state === 'done' && job.download_url) {
      if (!previous || previous.state !== 'done' || !result.childNodes.length) {
        result.replaceChildren(
          mayDownload(job)
            ? downloadLink(job, n)
            : G.el('span', { class: 'small muted' }, 'Téléchargement réservé aux comptes qui ont le droit d’extraction sur ces caméras.'),
          G.el('div', { class: 'export-files' },
            G.el('span', { class: 'export-size' }, `${job.package_name || 'paquet'} · ${G.formatBytes(job.package_size)}`),
            G.el('span', { class: 'small block' }, 'Empreinte SHA-256 du manifeste : ',
              G.el('code', { class: 'mono export-sha', title: 'À noter sur le procès-verbal de remise' }, job.manifest_sha256 || '—'))));
      }
    } else if (job.state === 'awaiting_approval') {
      result.replaceChildren(G.el('span', { class: 'small warn-text' },
        job.requested_by === me.username
          ? 'En attente de l’approbation d’un superviseur ou d’un administrateur.'
          : 'Cette extraction attend une approbation (double validation).'));
    } else {
      result.replaceChildren();
    }
    const error = q('.export-error');
    error.textContent = job.state === 'failed' ? `Échec : ${job.error || 'erreur inconnue'}`
      : (job.state === 'cancelled' ? 'Extraction annulée : aucun fichier n’a été conservé.' : '');
    error.dataset.level = job.state === 'failed' ? 'error' : 'warn';
    if (!previous || previous.state !== job.state) q('.export-actions').replaceChildren(...exportActions(job));
    return n;
  }

  /** The server re-checks the export right on every camera of the job at the download. */
  function mayDownload(job) {
    return job.camera_ids.every((id) => {
      const cam = cameras.find((c) => c.id === id);
      return cam && Array.isArray(cam.can) && cam.can.includes('export');
    });
  }

  /**
   * The package link. The download goes through a hidden frame: a package (attachment) is
   * saved by the browser without leaving the page, and a refusal (JSON error: right revoked,
   * file gone) loads into the frame, where it is read and shown on the card.
   */
  function downloadLink(job, card) {
    const a = G.el('a', { class: 'btn btn-primary export-download', href: job.download_url },
      'Télécharger le paquet (.zip)');
    a.addEventListener('click', (ev) => {
      ev.preventDefault();
      const error = card.querySelector('.export-error');
      error.textContent = '';
      let frame = card.querySelector('iframe.download-frame');
      if (frame) frame.remove();
      frame = G.el('iframe', { class: 'download-frame', hidden: true, title: 'Téléchargement' });
      frame.addEventListener('load', () => {
        let text = '';
        try { text = frame.contentDocument && frame.contentDocument.body ? frame.contentDocument.body.textContent : ''; } catch (err) { text = ''; }
        if (!text) return;
        let message = `Téléchargement impossible (réponse inattendue du serveur).`;
        try {
          const body = JSON.parse(text);
          if (body && body.message) message = `Téléchargement impossible : ${body.message}`;
          if (body && body.error === 'NotAuthenticated') { G.toLogin(); return; }
        } catch (err) { /* not JSON: keep the generic message */ }
        error.dataset.level = 'error';
        error.textContent = message;
      });
      card.append(frame);
      frame.src = job.download_url;
      say($('exports-action-msg'), `Extraction n° ${job.id} : téléchargement du paquet lancé (inscrit au registre).`, 'ok');
    });
    return a;
  }

  function renderExports(jobs) {
    const nodes = jobs.slice().sort((a, b) => b.id - a.id).map(updateExport);
    $('exports-list').replaceChildren(...nodes);
    $('exports-empty').hidden = jobs.length > 0;
    schedulePoll();
  }

  async function exportAction(job, verb) {
    const msg = $('exports-action-msg');
    try {
      const updated = await G.sendJson(`/api/exports/${encodeURIComponent(job.id)}/${verb}`, 'POST');
      updateExport(updated);
      say(msg, verb === 'approve' ? `Extraction n° ${job.id} approuvée.` : `Extraction n° ${job.id} : annulation demandée.`, 'ok');
      schedulePoll();
    } catch (err) {
      say(msg, `Extraction n° ${job.id} : ${err.message}`, 'error');
    }
  }

  // Follow the jobs that are not finished: every 0.5 s while queued or running, every 5 s
  // while waiting for an approval (someone else may approve it meanwhile).
  let pollTimer = null;
  let lastWaitingPoll = 0;
  function schedulePoll() {
    if (pollTimer != null) return;
    const pending = [...exportCards.values()].some((e) => !FINISHED.has(e.job.state));
    if (!pending) return;
    pollTimer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    pollTimer = null;
    const now = Date.now();
    const waitingDue = now - lastWaitingPoll >= POLL_WAITING_MS;
    if (waitingDue) lastWaitingPoll = now;
    const due = [...exportCards.values()].map((e) => e.job).filter((j) => j.state === 'queued'
      || j.state === 'running' || (j.state === 'awaiting_approval' && waitingDue));
    let failed = false;
    await Promise.all(due.map(async (j) => {
      try {
        updateExport(await G.fetchJson(`/api/exports/${encodeURIComponent(j.id)}`));
      } catch (err) {
        failed = true;
        const n = exportCards.get(j.id).node.querySelector('.export-error');
        n.dataset.level = 'error';
        n.textContent = `Suivi interrompu : ${err.message} (nouvel essai dans quelques secondes)`;
      }
    }));
    if (failed) {
      pollTimer = setTimeout(poll, 3000);
      return;
    }
    schedulePoll();
  }

  // ------------------------------------------------------------------ range forms

  function cameraChecks(container, action, prefix) {
    const allowed = cameras.filter((c) => Array.isArray(c.can) && c.can.some((a) => action.includes(a)));
    if (!allowed.length) {
      container.replaceChildren(G.el('span', { class: 'muted small' }, 'Aucune caméra sur laquelle vous avez ce droit.'));
      return;
    }
    container.replaceChildren(...allowed.map((c) => G.el('label', { class: 'check', for: `${prefix}-cam-${c.id}` },
      G.el('input', { type: 'checkbox', id: `${prefix}-cam-${c.id}`, name: 'camera_ids', value: c.id,
        checked: allowed.length === 1 }),
      c.name, c.site ? G.el('span', { class: 'muted small' }, ` – ${c.site}`) : null)));
  }

  /**
   * A « cameras + from + to » form: checks what it can, POSTs {camera_ids, from, to} with the
   * datetime-local values as typed (Paris time), and hands the answer to `done`.
   */
  function rangeForm(prefix, url, defaultMinutes, done) {
    const form = $(`${prefix}-form`);
    if (!form) return;
    const from = $(`${prefix}-from`);
    const to = $(`${prefix}-to`);
    const msg = $(`${prefix}-msg`);
    const duration = $(`${prefix}-duration`);
    const nowUs = G.nowUs();
    from.value = G.toDatetimeLocal(nowUs - defaultMinutes * 60e6);
    to.value = G.toDatetimeLocal(nowUs);
    const showDuration = () => {
      const a = G.fromDatetimeLocal(from.value);
      const b = G.fromDatetimeLocal(to.value);
      duration.textContent = a != null && b != null && b > a ? `durée ${G.formatDuration((b - a) / 1e6)}` : '';
    };
    from.addEventListener('input', showDuration);
    to.addEventListener('input', showDuration);
    showDuration();

    form.addEventListener('input', (ev) => {
      if (!ev.target.hasAttribute('aria-invalid')) return;
      ev.target.removeAttribute('aria-invalid');
      say(msg, '');
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      form.querySelectorAll('[aria-invalid]').forEach((n) => n.removeAttribute('aria-invalid'));
      const ids = [...form.querySelectorAll('input[name="camera_ids"]:checked')].map((i) => parseInt(i.value, 10));
      const a = G.fromDatetimeLocal(from.value);
      const b = G.fromDatetimeLocal(to.value);
      let problem = null;
      if (!ids.length) problem = ['Choisissez au moins une caméra.', null];
      else if (a == null) problem = ['Indiquez le début de la période (jour et heure).', from];
      else if (b == null) problem = ['Indiquez la fin de la période (jour et heure).', to];
      else if (b <= a) problem = ['La fin de la période doit être après son début.', to];
      if (problem) {
        say(msg, problem[0], 'warn');
        if (problem[1]) { problem[1].setAttribute('aria-invalid', 'true'); problem[1].focus(); }
        return;
      }
      const btn = form.querySelector('button[type="submit"]');
      btn.disabled = true;
      say(msg, 'Envoi…', 'info');
      try {
        const body = { camera_ids: ids, from: from.value, to: to.value };
        if (form.elements.thorough) body.thorough = form.elements.thorough.checked;
        const answer = await G.sendJson(url, 'POST', body);
        say(msg, done(answer), 'ok');
      } catch (err) {
        say(msg, err.message, 'error');
        const field = { from, to }[err.field];
        if (field) field.setAttribute('aria-invalid', 'true');
      } finally {
        btn.disabled = false;
      }
    });
  }

  // ------------------------------------------------------------------ start

  async function loadCameras() {
    try {
      cameras = await G.fetchJson('/api/cameras');
    } catch (err) {
      cameras = [];
      say($('case-msg'), `Liste des caméras indisponible : ${err.message}`, 'error');
    }
    for (const c of cameras) cameraNames.set(String(c.id), c.name);
    if ($('hold-cameras')) cameraChecks($('hold-cameras'), ['playback', 'export'], 'hold');
    if ($('export-cameras')) cameraChecks($('export-cameras'), ['export'], 'export');
    // reading plates looks at the images: the playback right (services/plates.py)
    if ($('plates-cameras')) cameraChecks($('plates-cameras'), ['playback'], 'plates');
  }

  rangeForm('hold', `${caseUrl}/holds`, 30, (holds) => {
    loadCase();
    const names = holds.map((h) => h.camera_name).join(', ');
    return `Images gelées : ${names}. Elles ne seront pas effacées tant que le gel est actif.`;
  });
  rangeForm('export', `${caseUrl}/exports`, 10, (job) => {
    $('exports-empty').hidden = true;
    $('exports-list').prepend(updateExport(job));
    schedulePoll();
    return job.state === 'awaiting_approval'
      ? `Extraction n° ${job.id} demandée : elle attend l’approbation d’une autre personne.`
      : `Extraction n° ${job.id} lancée : suivez son avancement ci-dessus.`;
  });

  rangeForm('plates', `${caseUrl}/plates`, 10, (job) => plates.added(job));

  loadCameras().then(() => { loadCase(); plates.load(); });
  window.guetteurCase = {
    reload: loadCase,
    exports: () => [...exportCards.values()].map((e) => e.job),
    plateJobs: () => plates.jobs(),
  };
})();

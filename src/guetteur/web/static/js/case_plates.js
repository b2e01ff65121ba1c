/*
 * Guetteur – one judicial case: its plate-reading jobs (« Lecture de plaques »).
 *
 * Loaded before case.js, which calls window.GuetteurCasePlates(ctx) once with what it shares
 * (the case's API address, rights, the user, camera names, helpers). GET /api/cases/{id}/plates
 * lists the case's jobs, newest first; the list is asked again every second while one of them
 * is queued or running. A job: state, segments_done/segments_total, progress (0..1), eta_s
 * (null until the server can tell), passages and reads found. POST /api/plate-jobs/{id}/cancel
 * stops one. When a job is done, « Rechercher dans cette réquisition » opens /plates?case={id}.
 * The form that starts a job (POST /api/cases/{id}/plates {camera_ids, from, to}) is case.js's
 * range form; `prefill` sets its cameras and period from the case's holds in force.
 *
 * Invariants: a job's card is updated in place (its <progress> stays the same node); instants
 * are shown in Paris time; server text is set with textContent only.
 */
'use strict';

window.GuetteurCasePlates = function (ctx) {
  const G = window.Guetteur;
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 1000;
  const RETRY_MS = 3000;
  const STATES = G.JOB_STATES;
  const FINISHED = G.FINISHED_JOB_STATES;
  const cards = new Map(); // job id -> {node, job}
  const list = $('plate-jobs-list');
  const empty = $('plate-jobs-empty');
  const actionMsg = $('plate-jobs-action-msg');
  const searchUrl = `/plates?case=${encodeURIComponent(ctx.caseId)}`;

  function card() {
    const node = G.el('article', { class: 'plate-job' });
    node.append(
      G.el('div', { class: 'job-head' },
        G.el('strong', { class: 'job-title' }),
        G.el('span', { class: 'pill job-state' }),
        G.el('span', { class: 'job-what' })),
      G.el('p', { class: 'job-meta muted small' }),
      G.el('div', { class: 'job-progress' },
        G.el('progress', { max: '100', value: '0' }),
        G.el('span', { class: 'job-pct' }),
        G.el('span', { class: 'job-eta muted' })),
      G.el('p', { class: 'job-counts small' }),
      G.el('div', { class: 'job-result' }),
      G.el('p', { class: 'job-error form-msg' }),
      G.el('div', { class: 'job-actions' }));
    return node;
  }

  function counts(job) {
    const parts = [`Segments vidéo analysés : ${G.formatInt(job.segments_done)} / ${G.formatInt(job.segments_total)}`];
    if (job.state === 'done' || job.passages > 0) {
      parts.push(`passages de véhicules trouvés : ${G.formatInt(job.passages)} (${G.formatInt(job.reads)} lecture${job.reads > 1 ? 's' : ''} de plaque)`);
    } else if (job.state === 'running') {
      parts.push('passages comptés à la fin de chaque caméra');
    }
    return parts.join(' · ');
  }

  function actions(job) {
    if (FINISHED.has(job.state)) return [];
    if (job.requested_by !== ctx.me.username && !ctx.rights.read_plates) return [];
    return [ctx.confirmButton('Annuler', 'Confirmer l’annulation',
      { class: 'btn btn-small btn-danger', dataset: { action: 'cancel-plates' } },
      async () => {
        try {
          update(await G.sendJson(`/api/plate-jobs/${encodeURIComponent(job.id)}/cancel`, 'POST'));
          ctx.say(actionMsg, `Analyse n° ${job.id} : annulation demandée.`, 'ok');
          schedule();
        } catch (err) {
          ctx.say(actionMsg, `Analyse n° ${job.id} : ${err.message}`, 'error');
        }
      })];
  }

  function result(job) {
    if (job.state !== 'done' && !(job.state === 'cancelled' && job.passages > 0)) return [];
    if (!job.passages) {
      return [G.el('span', { class: 'small muted' }, 'Aucune plaque lue sur ces images.')];
    }
    if (!ctx.platesSearch) return [];
    return [G.el('a', { class: 'btn btn-primary job-search', href: searchUrl },
      'Rechercher dans cette réquisition')];
  }

  function update(job) {
    let entry = cards.get(job.id);
    if (!entry) {
      entry = { node: card(), job: null };
      cards.set(job.id, entry);
    }
    const previous = entry.job;
    entry.job = job;
    const n = entry.node;
    const q = (sel) => n.querySelector(sel);
    n.dataset.jobId = job.id;
    n.dataset.state = job.state;

    q('.job-title').textContent = `Analyse n° ${job.id}${job.thorough ? ' (approfondie)' : ''}`;
    const pill = q('.job-state');
    pill.textContent = STATES[job.state] || job.state;
    pill.dataset.state = job.state;
    q('.job-what').textContent = `${job.camera_ids.map(ctx.cameraLabel).join(', ')} · ${ctx.rangeText(job.start_utc_us, job.end_utc_us)}`;
    let meta = `Demandée par ${job.requested_by} le ${G.formatDateTime(job.requested_utc_us)}`;
    if (job.finished_utc_us && job.started_utc_us && job.state === 'done') {
      meta += ` · terminée le ${G.formatDateTime(job.finished_utc_us)} (en ${G.formatDuration((job.finished_utc_us - job.started_utc_us) / 1e6)})`;
    }
    q('.job-meta').textContent = meta;

    const bar = q('progress');
    bar.setAttribute('aria-label', `Avancement de l’analyse n° ${job.id}`);
    G.showJobProgress({ line: q('.job-progress'), bar, pct: q('.job-pct'), eta: q('.job-eta') },
      job, 'en attente de démarrage (une analyse à la fois)');
    q('.job-counts').textContent = counts(job);

    if (!previous || previous.state !== job.state) {
      q('.job-result').replaceChildren(...result(job));
      q('.job-actions').replaceChildren(...actions(job));
    }
    const error = q('.job-error');
    error.textContent = job.state === 'failed' ? `Échec : ${job.error || 'erreur inconnue'}`
      : (job.state === 'cancelled' ? 'Analyse annulée avant la fin.'
        : (job.state === 'done' && job.error ? `Attention : ${job.error}` : ''));
    error.dataset.level = job.state === 'failed' ? 'error' : 'warn';
    return n;
  }

  function render(jobs) {
    list.replaceChildren(...jobs.slice().sort((a, b) => b.id - a.id).map(update));
    empty.hidden = jobs.length > 0;
  }

  let timer = null;
  let pollFailed = false;
  function schedule() {
    if (timer != null) return;
    const pending = [...cards.values()].some((e) => !FINISHED.has(e.job.state));
    if (pending) timer = setTimeout(load, POLL_MS);
  }

  async function load() {
    if (timer != null) clearTimeout(timer);
    timer = null;
    try {
      render(await G.fetchJson(`${ctx.caseUrl}/plates`));
      if (pollFailed) ctx.say(actionMsg, '');
      pollFailed = false;
    } catch (err) {
      ctx.say(actionMsg, `Suivi des analyses interrompu : ${err.message} (nouvel essai dans quelques secondes)`, 'error');
      pollFailed = true;
      timer = setTimeout(load, RETRY_MS);
      return;
    }
    schedule();
  }

  /** A job just created by the form: shown at once, then followed. */
  function added(job) {
    empty.hidden = true;
    list.prepend(update(job));
    schedule();
    return `Analyse n° ${job.id} lancée sur ${G.formatInt(job.segments_total)} segments vidéo : suivez son avancement ci-dessus.`;
  }

  /**
   * The form's cameras and period from the holds in force (the images the case is about), once,
   * and only if the user has not changed the form yet.
   */
  let prefilled = false;
  function prefill(holds) {
    const form = $('plates-form');
    if (prefilled || !form) return;
    prefilled = true;
    const hint = $('plates-hint');
    const inForce = (holds || []).filter((h) => h.state !== 'released');
    if (!inForce.length || form.dataset.touched) {
      hint.textContent = 'Choisissez les caméras et la période visées par la réquisition.';
      return;
    }
    const start = Math.min(...inForce.map((h) => h.start_utc_us));
    const end = Math.min(Math.max(...inForce.map((h) => h.end_utc_us)), G.nowUs());
    const boxes = [...form.querySelectorAll('input[name="camera_ids"]')];
    const held = new Set(inForce.map((h) => String(h.camera_id)));
    if (boxes.some((b) => held.has(b.value))) boxes.forEach((b) => { b.checked = held.has(b.value); });
    $('plates-from').value = G.toDatetimeLocal(start);
    $('plates-to').value = G.toDatetimeLocal(end);
    $('plates-from').dispatchEvent(new Event('input'));
    hint.textContent = 'Caméras et période reprises des gels de la réquisition ; modifiez-les si besoin.';
  }

  const form = $('plates-form');
  if (form) form.addEventListener('input', () => { form.dataset.touched = '1'; }, { once: true });

  return { load, added, prefill, jobs: () => [...cards.values()].map((e) => e.job) };
};

/*
 * Guetteur – the access register (auditors, DPO; supervisors granted « audit »).
 *
 * Filters (user, camera, Paris period, « consultations et extractions seulement ») -> GET
 * /api/audit?username=&camera_id=&from=&to=&views_only=&limit=&offset=, newest first, one page
 * at a time. « Vérifier l'intégrité du journal » -> POST /api/audit/verify (the hash chain and
 * the signed checkpoints: what is missing or rewritten, the newest checkpoint's age);
 * « Exporter le registre (CSV) » -> GET /api/audit.csv?from=&to= (the period of the filters).
 *
 * Pages are pinned: reading the trail appends to it (audit_read), newest first, so the later
 * pages of one search are asked with `to` = just after the newest event of its first page;
 * otherwise each page would shift by the events written meanwhile.
 *
 * Invariants: every instant is shown in Paris time; periods typed in the datetime-local
 * fields are sent as they are (ISO without offset = Europe/Paris for the server); action names
 * are shown in French words, the raw name stays in the row's data-action for tests and in the
 * CSV; text from the trail is set with textContent only (a username cannot inject markup).
 */
'use strict';

(function () {
  const G = window.Guetteur;
  const $ = (id) => document.getElementById(id);

  const ACTIONS = {
    live: 'Consultation en direct',
    live_end: 'Fin de consultation en direct',
    playback: 'Relecture',
    export: 'Extraction (téléchargement)',
    live_denied: 'Direct refusé',
    playback_denied: 'Relecture refusée',
    export_denied: 'Extraction refusée',
    login: 'Connexion',
    logout: 'Déconnexion',
    login_failed: 'Échec de connexion',
    login_locked: 'Compte verrouillé',
    login_throttled: 'Connexion refusée : essais ralentis',
    login_blocked: 'Essais de connexion ralentis',
    login_alert: 'Alerte : nombreux échecs sur un compte',
    login_disabled: 'Connexion d’un compte désactivé',
    login_rate_limited: 'Trop de tentatives de connexion',
    mfa_failed: 'Code de vérification erroné',
    mfa_enrolled: 'Second facteur activé',
    mfa_blocked: 'Second facteur bloqué après des codes erronés',
    mfa_throttled: 'Code refusé : second facteur bloqué',
    user_unlock: 'Déverrouillage de compte',
    user_add: 'Création de compte',
    user_update: 'Modification de compte',
    user_reset: 'Réinitialisation de compte',
    grant_add: 'Attribution d’un droit',
    grant_revoke: 'Révocation d’un droit',
    audit_read: 'Consultation du journal',
    audit_export: 'Export du registre',
    camera_add: 'Ajout de caméra',
    camera_update: 'Modification de caméra',
    camera_remove: 'Suppression de caméra',
    partner_add: 'Ajout de bailleur',
    retention_purge: 'Effacement (durée de conservation)',
    early_purge: 'Effacement anticipé (disque plein)',
    storage_full: 'Stockage plein : enregistrement interrompu',
    storage_resumed: 'Stockage : enregistrement repris',
  };
  // Why the access gate refused (detail.decision), in French.
  const DECISIONS = {
    'case reference required': 'référence de réquisition manquante',
    'habilitation expired': 'habilitation expirée',
    'account disabled': 'compte désactivé',
    'no valid grant for this camera and action': 'aucun droit valable sur cette caméra',
    'landlords see camera health only': 'un bailleur ne voit pas les images',
    'unknown camera': 'caméra inconnue',
    'not found': 'introuvable (fichier ou objet absent)',
    'no footage': 'aucun enregistrement',
    'not available': 'extraction pas encore terminée',
    'range not satisfiable': 'plage d’octets hors du fichier',
  };
  const PROBLEMS = {
    'previous-hash link broken (event deleted, inserted or moved)':
      'chaînage rompu : un événement a été supprimé, inséré ou déplacé',
    'content does not match its hash (event modified)':
      'contenu modifié : l’événement ne correspond plus à son empreinte',
  };

  const form = $('audit-filters');
  const body = $('audit-body');
  const summary = $('audit-summary');
  const msg = $('audit-msg');
  const csvLink = $('csv-link');
  const cameraSelect = $('f-camera');
  const knownUsers = new Set();
  let cameraNames = new Map();
  let offset = 0;
  let total = 0;
  let pinnedToUs = null; // see the header: the end of the current search's result set

  function actionLabel(action) {
    if (ACTIONS[action]) return ACTIONS[action];
    if (action && action.endsWith('_denied')) return `${action.slice(0, -7)} refusé`;
    return action || '—';
  }

  function cameraLabel(id) {
    if (id == null) return '—';
    return cameraNames.get(String(id)) || `Caméra n° ${id}`;
  }

  /** "14:05:09 → 14:07:30" the same day, full dates otherwise; "à partir de …" if open. */
  function rangeText(ev) {
    const a = ev.range_from_utc_us;
    const b = ev.range_to_utc_us;
    if (a == null && b == null) return '—';
    if (b == null) return ev.action === 'live' ? `direct à partir de ${G.formatDateTime(a)}` : `à partir de ${G.formatDateTime(a)}`;
    if (a == null) return `jusqu’à ${G.formatDateTime(b)}`;
    const sameDay = G.parisDay(a) === G.parisDay(b);
    return `${G.formatDateTime(a)} → ${sameDay ? G.formatTime(b) : G.formatDateTime(b)}`;
  }

  /** What an administration event changed, in a few words (the CSV has the full detail). */
  function detailText(ev) {
    const d = ev.detail || {};
    const after = d.after || {};
    const rights = { live: 'direct', playback: 'relecture', export: 'extraction', ptz: 'PTZ', audit: 'journal' };
    if (ev.action === 'grant_add' || ev.action === 'grant_revoke') {
      const scope = after.scope_kind === 'all' ? 'toutes caméras' : `${after.scope_kind} ${after.scope_value || ''}`.trim();
      return `${after.username || '?'} : ${rights[after.action] || after.action || '?'}, ${scope} (droit n° ${after.id})`;
    }
    if (ev.action === 'user_add') return `${after.username || '?'} (${G.roleLabel(after.role)})`;
    if (ev.action === 'user_update') {
      const before = d.before || {};
      const changes = [];
      if (before.enabled !== after.enabled) changes.push(after.enabled ? 'réactivé' : 'désactivé');
      if (before.habilitation_until_utc_us !== after.habilitation_until_utc_us) {
        changes.push(after.habilitation_until_utc_us == null ? 'habilitation sans limite'
          : `habilitation jusqu’au ${G.formatDateTime(after.habilitation_until_utc_us)}`);
      }
      return `${after.username || '?'}${changes.length ? ` : ${changes.join(', ')}` : ''}`;
    }
    if (ev.action === 'user_reset') return `${d.user || '?'} : mot de passe et second facteur`;
    return '';
  }

  function reasonCell(ev) {
    const td = G.el('td', {});
    if (ev.reason) td.append(G.el('span', { class: 'case-ref' }, ev.reason));
    const what = detailText(ev);
    if (what) td.append(G.el('span', { class: 'small' }, what));
    const decision = ev.detail && ev.detail.decision;
    if (decision && ev.action && ev.action.endsWith('_denied')) {
      td.append(G.el('span', { class: 'muted small block' }, `refus : ${DECISIONS[decision] || decision}`));
    }
    if (!td.childNodes.length) td.append(G.el('span', { class: 'muted' }, '—'));
    return td;
  }

  function row(ev) {
    const denied = ev.action && (ev.action.endsWith('_denied') || ev.action.startsWith('login_') || ['mfa_failed', 'mfa_blocked', 'mfa_throttled'].includes(ev.action));
    if (ev.username) knownUsers.add(ev.username);
    return G.el('tr', { class: denied ? 'row-warn' : null, dataset: { eventId: ev.id, action: ev.action } },
      G.el('td', { class: 'nowrap', title: `Événement n° ${ev.id}` }, G.formatDateTime(ev.at_utc_us)),
      G.el('td', { class: 'nowrap' }, ev.username || G.el('span', { class: 'muted' }, 'système')),
      G.el('td', {}, actionLabel(ev.action)),
      G.el('td', { class: 'nowrap' }, cameraLabel(ev.camera_id)),
      G.el('td', { class: 'nowrap' }, rangeText(ev)),
      reasonCell(ev),
      G.el('td', { class: 'nowrap mono' }, ev.client_addr || '—'));
  }

  function filters() {
    const q = new URLSearchParams();
    const user = $('f-user').value.trim();
    if (user) q.set('username', user);
    if (cameraSelect.value) q.set('camera_id', cameraSelect.value);
    if ($('f-from').value) q.set('from', $('f-from').value);
    if ($('f-to').value) q.set('to', $('f-to').value);
    else if (pinnedToUs != null) q.set('to', String(pinnedToUs));
    q.set('views_only', $('f-views').checked ? 'true' : 'false');
    q.set('limit', $('f-limit').value);
    return q;
  }

  function syncCsvLink() {
    const q = new URLSearchParams();
    if ($('f-from').value) q.set('from', $('f-from').value);
    if ($('f-to').value) q.set('to', $('f-to').value);
    const qs = q.toString();
    csvLink.href = `/api/audit.csv${qs ? `?${qs}` : ''}`;
    csvLink.title = qs ? 'Registre complet de la période choisie (tous les événements)' : 'Registre complet (tous les événements)';
  }

  async function search() {
    const q = filters();
    q.set('offset', String(offset));
    msg.textContent = '';
    try {
      const res = await G.fetchJson(`/api/audit?${q}`);
      if (pinnedToUs == null && res.events.length) pinnedToUs = res.events[0].at_utc_us + 1;
      total = res.total;
      body.replaceChildren(...res.events.map(row));
      $('audit-empty').hidden = res.events.length > 0;
      const first = res.events.length ? offset + 1 : 0;
      const last = offset + res.events.length;
      $('page-info').textContent = total
        ? `${G.formatInt(first)}–${G.formatInt(last)} sur ${G.formatInt(total)}` : '';
      $('page-prev').disabled = offset <= 0;
      $('page-next').disabled = last >= total;
      summary.textContent = `${G.formatInt(total)} événement${total > 1 ? 's' : ''}` +
        ($('f-views').checked ? ' de consultation ou d’extraction' : '');
      $('f-user-list').replaceChildren(...[...knownUsers].sort().map((u) => G.el('option', { value: u })));
    } catch (err) {
      msg.textContent = err.message;
      msg.dataset.level = 'error';
      if (err.field) {
        const field = form.querySelector(`[name="${CSS.escape(err.field)}"]`);
        if (field) field.setAttribute('aria-invalid', 'true');
      }
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    form.querySelectorAll('[aria-invalid]').forEach((n) => n.removeAttribute('aria-invalid'));
    offset = 0;
    pinnedToUs = null;
    syncCsvLink();
    search();
  });
  form.addEventListener('reset', () => {
    setTimeout(() => { offset = 0; pinnedToUs = null; syncCsvLink(); search(); }, 0);
  });
  for (const id of ['f-from', 'f-to']) $(id).addEventListener('change', syncCsvLink);
  const restart = () => { offset = 0; pinnedToUs = null; search(); };
  $('f-views').addEventListener('change', restart);
  $('f-limit').addEventListener('change', restart);
  cameraSelect.addEventListener('change', restart);
  $('page-prev').addEventListener('click', () => {
    offset = Math.max(0, offset - parseInt($('f-limit').value, 10));
    search();
  });
  $('page-next').addEventListener('click', () => {
    offset += parseInt($('f-limit').value, 10);
    search();
  });

  // ------------------------------------------------------------------ chain verification

  $('verify-btn').addEventListener('click', async () => {
    const btn = $('verify-btn');
    const out = $('verify-result');
    btn.disabled = true;
    out.hidden = false;
    out.dataset.level = 'info';
    out.textContent = 'Vérification de la chaîne d’empreintes en cours…';
    try {
      const r = await G.sendJson('/api/audit/verify', 'POST');
      const figures = `${G.formatInt(r.events)} événement${r.events > 1 ? 's' : ''} vérifié${r.events > 1 ? 's' : ''} en ${r.seconds.toLocaleString('fr-FR', { maximumFractionDigits: 3 })} s`;
      out.replaceChildren();
      const anchor = r.anchor || null;
      if (r.ok) {
        out.dataset.level = 'ok';
        out.append(G.el('strong', {}, 'Journal intègre. '), `${figures} : aucun événement modifié, supprimé, inséré ni déplacé.`);
      } else {
        out.dataset.level = 'error';
        out.append(G.el('strong', {}, 'Altération détectée. '));
        if (r.first_bad_id !== null) {
          out.append(`Premier événement en cause : n° ${r.first_bad_id} (${PROBLEMS[r.problem] || r.problem}). `);
        }
        if (anchor && anchor.problem) {
          out.append(G.el('span', { class: 'verify-anchor-problem' }, `Points de contrôle signés : ${anchor.problem}. `));
        }
        out.append(`${figures}.`);
      }
      if (anchor) {
        // how old the newest signed checkpoint is: events written since are not yet protected
        out.append(G.el('div', { class: 'verify-anchor', id: 'verify-anchor' },
          `${anchor.summary.charAt(0).toUpperCase()}${anchor.summary.slice(1)}.`));
      }
      out.dataset.ok = r.ok ? 'true' : 'false';
    } catch (err) {
      out.dataset.level = 'error';
      out.textContent = `Vérification impossible : ${err.message}`;
    } finally {
      btn.disabled = false;
    }
  });

  // ------------------------------------------------------------------ start

  async function loadCameras() {
    try {
      const cams = await G.fetchJson('/api/cameras');
      cameraNames = new Map(cams.map((c) => [String(c.id), c.name]));
      cameraSelect.append(...cams.map((c) => G.el('option', { value: c.id }, c.name)));
    } catch (err) { /* names stay « Caméra n° id » */ }
  }

  syncCsvLink();
  loadCameras().then(search);
  window.guetteurAudit = { search };
})();

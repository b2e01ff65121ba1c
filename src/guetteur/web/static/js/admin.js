/*
 * Guetteur – administration page: accounts (GET/POST/PATCH /api/users, POST
 * /api/users/{id}/reset, POST /api/users/{id}/unlock) and image rights (GET /api/users/{id}, POST /api/users/{id}/grants,
 * DELETE /api/grants/{id}).
 *
 * Invariants: a generated password is shown once (in #onetime) and kept nowhere else, not even
 * in a variable once the notice is closed; every error of the API is shown in French next to
 * the form that caused it (its `field` is marked aria-invalid); state-changing calls carry the
 * CSRF token (G.sendJson); a destructive action (disable, reset, revoke) asks for a second
 * click instead of a browser dialog; dates typed here are Paris time and sent as they are
 * (the server reads an ISO date without offset as Europe/Paris).
 */
'use strict';

(function () {
  const G = window.Guetteur;
  const data = G.pageData();
  const $ = (id) => document.getElementById(id);

  const ACTION_LABELS = {
    live: 'Direct',
    playback: 'Relecture',
    export: 'Extraction',
    ptz: 'Pilotage (PTZ)',
    audit: "Journal d'accès",
    configure: 'Configuration',
  };
  const SCOPE_LABELS = {
    all: 'Toutes les caméras',
    site: 'Un site',
    owner: 'Un propriétaire',
    cameras: 'Des caméras choisies',
  };
  const CONFIRM_MS = 4000;

  let users = [];
  let cameras = [];
  let partners = [];
  let selected = null; // the user shown in #user-detail (GET /api/users/{id})

  // ------------------------------------------------------------------ helpers

  function say(node, text, level) {
    node.textContent = text || '';
    node.dataset.level = level || 'info';
  }

  /** Show an API error next to its form and mark the field it names. */
  function fail(form, msgNode, err) {
    say(msgNode, err.message, 'error');
    if (!form) return;
    const field = err.field && form.querySelector(`[name="${CSS.escape(err.field)}"]`);
    if (field) {
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    }
  }

  function clearErrors(form, msgNode) {
    form.querySelectorAll('[aria-invalid]').forEach((n) => n.removeAttribute('aria-invalid'));
    say(msgNode, '');
  }

  /** A button that acts only on a second click within a few seconds. */
  function confirmButton(label, confirmLabel, className, action) {
    const btn = G.el('button', { type: 'button', class: `btn btn-small ${className || ''}`.trim() }, label);
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

  function cameraName(id) {
    const c = cameras.find((x) => String(x.id) === String(id));
    return c ? c.name : `n° ${id}`;
  }

  function scopeText(g) {
    if (g.scope_kind === 'all') return 'Toutes les caméras';
    if (g.scope_kind === 'site') return `Site : ${g.scope_value}`;
    if (g.scope_kind === 'owner') return `Propriétaire : ${g.scope_value === 'city' ? 'Ville' : g.scope_value}`;
    if (g.scope_kind === 'cameras') {
      return `Caméras : ${(g.scope_value || '').split(',').filter(Boolean).map(cameraName).join(', ')}`;
    }
    return `${g.scope_kind} ${g.scope_value || ''}`;
  }

  function validityText(g) {
    const from = g.valid_from_utc_us;
    const until = g.valid_until_utc_us;
    if (from == null && until == null) return 'Sans limite';
    if (from == null) return `Jusqu'au ${G.formatDateTime(until)}`;
    if (until == null) return `À partir du ${G.formatDateTime(from)}`;
    return `Du ${G.formatDateTime(from)} au ${G.formatDateTime(until)}`;
  }

  function grantStatus(g) {
    const now = G.nowUs();
    if (g.revoked_utc_us != null) {
      return { key: 'revoked', text: `Révoqué le ${G.formatDateTime(g.revoked_utc_us)}${g.revoked_by ? ` par ${g.revoked_by}` : ''}` };
    }
    if (g.valid_from_utc_us != null && now < g.valid_from_utc_us) return { key: 'future', text: 'Pas encore valable' };
    if (g.valid_until_utc_us != null && now >= g.valid_until_utc_us) return { key: 'expired', text: 'Expiré' };
    return { key: 'active', text: 'Actif' };
  }

  // ------------------------------------------------------------------ one-time password

  function showPassword(title, username, password) {
    $('onetime-title').textContent = title;
    $('onetime-user').textContent = username;
    $('onetime-password').textContent = password;
    $('onetime').hidden = false;
    $('onetime').scrollIntoView({ block: 'nearest' });
  }
  $('onetime-close').addEventListener('click', () => {
    $('onetime-password').textContent = '';
    $('onetime').hidden = true;
  });

  // ------------------------------------------------------------------ users table

  function habilitationCell(u) {
    const us = u.habilitation_until_utc_us;
    if (us == null) return G.el('td', { class: 'muted' }, 'Sans limite');
    const past = us <= G.nowUs();
    return G.el('td', { class: `nowrap${past ? ' warn-text' : ''}` },
      past ? `Expirée le ${G.formatDateTime(us)}` : G.formatDateTime(us));
  }

  const UNTIL_UNLOCKED_US = 2 ** 62; // domain/throttle.FOREVER_UTC_US

  /** The « Verrouillage » cell: a running login block, or failures counted recently. */
  function throttleCell(u) {
    const until = u.blocked_until_utc_us;
    if (until != null && until > G.nowUs()) {
      const text = until >= UNTIL_UNLOCKED_US
        ? 'Bloqué jusqu\'au déverrouillage'
        : `Ralenti jusqu'à ${G.formatTime(until)}`;
      return G.el('td', { class: 'nowrap' },
        G.el('span', { class: 'pill pill-warn', title: until >= UNTIL_UNLOCKED_US ? '' : G.formatDateTime(until) }, text));
    }
    if (u.login_failures > 0) {
      return G.el('td', { class: 'nowrap' }, G.el('span', { class: 'muted' },
        `${u.login_failures} échec${u.login_failures > 1 ? 's' : ''} récent${u.login_failures > 1 ? 's' : ''}`));
    }
    return G.el('td', { class: 'nowrap' }, G.el('span', { class: 'muted' }, '—'));
  }

  function userRow(u) {
    const throttled = (u.blocked_until_utc_us != null && u.blocked_until_utc_us > G.nowUs())
      || u.login_failures > 0;
    const actions = G.el('td', { class: 'actions' });
    const open = G.el('button', { type: 'button', class: 'btn btn-small', dataset: { action: 'grants' } }, 'Droits');
    open.addEventListener('click', () => selectUser(u.id));
    actions.append(open);
    if (u.username !== data.me) { // nobody locks themselves out from here
      const toggle = u.enabled
        ? confirmButton('Désactiver', 'Confirmer la désactivation', 'btn-danger', () => setEnabled(u, false))
        : confirmButton('Réactiver', 'Confirmer la réactivation', '', () => setEnabled(u, true));
      toggle.dataset.action = u.enabled ? 'disable' : 'enable';
      actions.append(toggle);
    }
    if (throttled) {
      const unlock = G.el('button', { type: 'button', class: 'btn btn-small', dataset: { action: 'unlock' } }, 'Déverrouiller');
      unlock.addEventListener('click', async () => {
        unlock.disabled = true;
        try { await unlockUser(u); } finally { unlock.disabled = false; }
      });
      actions.append(unlock);
    }
    const reset = confirmButton('Réinitialiser', 'Confirmer : nouveau mot de passe et 2FA', '', () => resetUser(u));
    reset.dataset.action = 'reset';
    actions.append(reset);
    const name = G.el('td', { class: 'nowrap' }, G.el('strong', {}, u.username));
    if (u.full_name) name.append(G.el('div', { class: 'muted small' }, u.full_name));
    return G.el('tr', {
      dataset: { userId: u.id, username: u.username },
      class: `${u.enabled ? '' : 'row-disabled'} ${selected && selected.id === u.id ? 'row-selected' : ''}`.trim() || null,
    },
    name,
    G.el('td', {}, G.roleLabel(u.role)),
    G.el('td', {}, u.partner || '—'),
    habilitationCell(u),
    G.el('td', {}, u.totp_enrolled
      ? G.el('span', { class: 'pill pill-ok' }, 'Activé')
      : G.el('span', { class: 'pill' }, ['landlord', 'auditor'].includes(u.role) ? 'Non requis' : 'À activer')),
    throttleCell(u),
    G.el('td', {}, u.enabled
      ? G.el('span', { class: 'pill pill-ok' }, 'Actif')
      : G.el('span', { class: 'pill pill-off' }, 'Désactivé')),
    actions);
  }

  async function loadUsers() {
    try {
      users = await G.fetchJson('/api/users');
      $('users-body').replaceChildren(...users.map(userRow));
      const enabled = users.filter((u) => u.enabled).length;
      $('users-summary').textContent = `${users.length} compte${users.length > 1 ? 's' : ''} · ${enabled} actif${enabled > 1 ? 's' : ''}`;
    } catch (err) {
      $('users-summary').textContent = `Liste des comptes indisponible : ${err.message}`;
    }
  }

  async function setEnabled(u, enabled) {
    try {
      await G.sendJson(`/api/users/${encodeURIComponent(u.id)}`, 'PATCH', { enabled });
      say($('users-msg'), enabled ? `Compte ${u.username} réactivé.` : `Compte ${u.username} désactivé : ses sessions sont fermées.`, 'ok');
    } catch (err) {
      say($('users-msg'), err.message, 'error');
    }
    await loadUsers();
    if (selected && selected.id === u.id) await selectUser(u.id);
  }

  async function unlockUser(u) {
    try {
      await G.sendJson(`/api/users/${encodeURIComponent(u.id)}/unlock`, 'POST');
      say($('users-msg'), `Compte ${u.username} déverrouillé : ses connexions ne sont plus ralenties.`, 'ok');
    } catch (err) {
      say($('users-msg'), err.message, 'error');
    }
    await loadUsers();
  }

  async function resetUser(u) {
    try {
      const r = await G.sendJson(`/api/users/${encodeURIComponent(u.id)}/reset`, 'POST');
      showPassword('Compte réinitialisé : nouveau mot de passe provisoire', r.username, r.password);
      say($('users-msg'), `Compte ${u.username} réinitialisé : ses sessions sont fermées, le second facteur est à réactiver.`, 'ok');
    } catch (err) {
      say($('users-msg'), err.message, 'error');
    }
    await loadUsers();
  }

  // ------------------------------------------------------------------ create an account

  const roleSelect = $('new-role');
  for (const opt of roleSelect.options) opt.textContent = G.roleLabel(opt.value);
  roleSelect.value = 'operator';
  function syncPartnerField() {
    $('new-partner-group').hidden = roleSelect.value !== 'landlord';
  }
  roleSelect.addEventListener('change', syncPartnerField);
  syncPartnerField();

  $('create-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const msg = $('create-msg');
    clearErrors(form, msg);
    const role = roleSelect.value;
    const body = {
      username: $('new-username').value.trim(),
      role,
      full_name: $('new-fullname').value.trim() || null,
      partner: role === 'landlord' ? ($('new-partner').value || null) : null,
      habilitation_until: $('new-habilitation').value || null,
    };
    if (!body.username) {
      fail(form, msg, { message: "Indiquez l'identifiant du compte.", field: 'username' });
      return;
    }
    $('create-submit').disabled = true;
    try {
      const created = await G.sendJson('/api/users', 'POST', body);
      showPassword('Compte créé : mot de passe provisoire', created.username, created.password);
      form.reset();
      roleSelect.value = role;
      syncPartnerField();
      say(msg, `Compte ${created.username} créé.`, 'ok');
      await loadUsers();
      await selectUser(created.id);
    } catch (err) {
      fail(form, msg, err);
    } finally {
      $('create-submit').disabled = false;
    }
  });

  // ------------------------------------------------------------------ one account: rights

  function grantRow(g) {
    const st = grantStatus(g);
    const actions = G.el('td', { class: 'actions' });
    if (st.key !== 'revoked') {
      const btn = confirmButton('Révoquer', 'Confirmer la révocation', 'btn-danger', () => revoke(g));
      btn.dataset.action = 'revoke';
      actions.append(btn);
    }
    return G.el('tr', { class: st.key === 'revoked' ? 'row-revoked' : null, dataset: { grantId: g.id, status: st.key } },
      G.el('td', { class: 'num' }, String(g.id)),
      G.el('td', {}, ACTION_LABELS[g.action] || g.action),
      G.el('td', {}, scopeText(g)),
      G.el('td', { class: 'nowrap' }, validityText(g)),
      G.el('td', { class: 'nowrap muted' }, `${G.formatDateTime(g.created_utc_us)}${g.created_by ? ` par ${g.created_by}` : ''}`),
      G.el('td', {}, G.el('span', { class: `pill pill-${st.key}` }, st.text)),
      actions);
  }

  function renderDetail() {
    const u = selected;
    $('user-detail').hidden = false;
    $('detail-title').textContent = `Compte « ${u.username} »`;
    $('detail-role').textContent = `${G.roleLabel(u.role)}${u.partner ? ` · ${u.partner}` : ''}${u.full_name ? ` · ${u.full_name}` : ''}`;
    $('detail-habilitation').value = u.habilitation_until_utc_us != null ? G.toDatetimeLocal(u.habilitation_until_utc_us) : '';
    const grants = u.grants || [];
    // Current rights first, then the revoked ones (kept for the register, greyed).
    const sorted = grants.slice().sort((a, b) => (a.revoked_utc_us != null) - (b.revoked_utc_us != null) || a.id - b.id);
    $('grants-body').replaceChildren(...sorted.map(grantRow));
    $('grants-table').hidden = !grants.length;
    $('grants-empty').hidden = grants.length > 0;

    const allowed = (data.grantable || {})[u.role] || [];
    const actionSelect = $('grant-action');
    actionSelect.replaceChildren(...allowed.map((a) => G.el('option', { value: a }, ACTION_LABELS[a] || a)));
    $('grant-form').hidden = !allowed.length;
    $('grant-none').hidden = allowed.length > 0;
    $('grant-none').textContent = u.role === 'landlord'
      ? 'Un compte bailleur ne reçoit jamais de droit sur les images : il voit seulement l’état de ses caméras.'
      : `Le rôle « ${G.roleLabel(u.role)} » ne reçoit pas de droit sur les images.`;
    for (const row of $('users-body').children) {
      row.classList.toggle('row-selected', row.dataset.userId === String(u.id));
    }
  }

  async function selectUser(id) {
    try {
      selected = await G.fetchJson(`/api/users/${encodeURIComponent(id)}`);
      clearErrors($('grant-form'), $('grant-msg'));
      say($('habilitation-msg'), '');
      renderDetail();
      $('user-detail').scrollIntoView({ block: 'nearest' });
    } catch (err) {
      say($('users-msg'), err.message, 'error');
    }
  }

  $('detail-close').addEventListener('click', () => {
    selected = null;
    $('user-detail').hidden = true;
    for (const row of $('users-body').children) row.classList.remove('row-selected');
  });

  async function saveHabilitation(value) {
    const msg = $('habilitation-msg');
    clearErrors($('habilitation-form'), msg);
    try {
      await G.sendJson(`/api/users/${encodeURIComponent(selected.id)}`, 'PATCH', { habilitation_until: value });
      await loadUsers();
      await selectUser(selected.id);
      say(msg, value ? 'Fin d’habilitation enregistrée.' : 'Habilitation sans limite de date.', 'ok');
    } catch (err) {
      fail($('habilitation-form'), msg, err);
    }
  }
  $('habilitation-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const value = $('detail-habilitation').value;
    if (!value) {
      fail($('habilitation-form'), $('habilitation-msg'),
        { message: 'Choisissez une date, ou « Sans limite ».', field: 'habilitation_until' });
      return;
    }
    saveHabilitation(value);
  });
  $('habilitation-clear').addEventListener('click', () => saveHabilitation(''));

  // The scope value depends on the scope kind: a site, an owner, or a list of cameras.
  const scopeSelect = $('grant-scope');
  for (const opt of scopeSelect.options) opt.textContent = SCOPE_LABELS[opt.value] || opt.value;
  function syncScope() {
    const kind = scopeSelect.value;
    $('grant-value-site').hidden = kind !== 'site';
    $('grant-value-owner').hidden = kind !== 'owner';
    $('grant-value-cameras').hidden = kind !== 'cameras';
  }
  scopeSelect.addEventListener('change', syncScope);
  syncScope();

  function fillScopeChoices() {
    const sites = [...new Set(cameras.map((c) => c.site).filter(Boolean))].sort((a, b) => a.localeCompare(b, 'fr'));
    $('grant-site').replaceChildren(...sites.map((s) => G.el('option', { value: s }, s)));
    $('grant-owner').replaceChildren(G.el('option', { value: 'city' }, 'Ville'),
      ...partners.map((p) => G.el('option', { value: p.name }, p.name)));
    $('grant-camera-list').replaceChildren(...cameras.map((c) => G.el('label', { class: 'check' },
      G.el('input', { type: 'checkbox', value: c.id, name: 'camera' }),
      ` ${c.name}`, c.site ? G.el('span', { class: 'muted' }, ` (${c.site})`) : null)));
    $('new-partner').replaceChildren(...partners.map((p) => G.el('option', { value: p.name }, p.name)));
  }

  function scopeValue(kind) {
    if (kind === 'site') return $('grant-site').value || null;
    if (kind === 'owner') return $('grant-owner').value || null;
    if (kind === 'cameras') {
      const ids = [...$('grant-camera-list').querySelectorAll('input:checked')].map((i) => i.value);
      return ids.length ? ids.join(',') : null;
    }
    return null;
  }

  $('grant-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const msg = $('grant-msg');
    clearErrors(form, msg);
    const kind = scopeSelect.value;
    const body = {
      action: $('grant-action').value,
      scope_kind: kind,
      scope_value: scopeValue(kind),
      valid_from: $('grant-from').value || null,
      valid_until: $('grant-until').value || null,
    };
    if (kind !== 'all' && !body.scope_value) {
      say(msg, kind === 'cameras' ? 'Cochez au moins une caméra.' : 'Précisez la portée du droit.', 'error');
      return;
    }
    $('grant-submit').disabled = true;
    try {
      const g = await G.sendJson(`/api/users/${encodeURIComponent(selected.id)}/grants`, 'POST', body);
      await selectUser(selected.id);
      say(msg, `Droit n° ${g.id} accordé : ${ACTION_LABELS[g.action] || g.action}, ${scopeText(g).replace(/^./, (ch) => ch.toLowerCase())}.`, 'ok');
    } catch (err) {
      fail(form, msg, err);
    } finally {
      $('grant-submit').disabled = false;
    }
  });

  async function revoke(g) {
    const msg = $('grant-msg');
    try {
      await G.sendJson(`/api/grants/${encodeURIComponent(g.id)}`, 'DELETE');
      await selectUser(selected.id);
      say(msg, `Droit n° ${g.id} révoqué : il prend fin immédiatement, y compris pour un direct en cours.`, 'ok');
    } catch (err) {
      say(msg, err.message, 'error');
    }
  }

  // ------------------------------------------------------------------ start

  async function loadReferences() {
    try {
      [cameras, partners] = await Promise.all([G.fetchJson('/api/cameras'), G.fetchJson('/api/partners')]);
    } catch (err) {
      say($('users-msg'), `Caméras ou bailleurs indisponibles : ${err.message}`, 'error');
    }
    fillScopeChoices();
  }

  loadReferences().then(() => { if (selected) renderDetail(); });
  loadUsers();
  window.guetteurAdmin = { selectUser, users: () => users };
})();

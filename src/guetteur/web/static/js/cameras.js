/*
 * Guetteur – camera list: one row per camera (name, site, owner, state, last segment in Paris
 * time, segment count, size, retention), each linking to its live view and its playback.
 * Refreshed every 10 s from GET /api/cameras.
 */
'use strict';

(function () {
  const G = window.Guetteur;
  const body = document.getElementById('cameras-body');
  const summary = document.getElementById('cameras-summary');
  const empty = document.getElementById('cameras-empty');

  function ownerLabel(owner) {
    if (!owner || owner === 'city') return 'Ville';
    return owner;
  }

  function lastSegmentCell(cam) {
    const us = cam.last_segment_end_utc_us;
    if (us == null) return G.el('td', { class: 'muted' }, 'aucun');
    const ageS = (G.nowUs() - us) / 1e6;
    const td = G.el('td', { class: 'nowrap', title: `Il y a ${G.formatDuration(ageS)}` },
      G.formatDateTime(us));
    if (cam.enabled && ageS > 60) td.classList.add('warn-text');
    return td;
  }

  function row(cam) {
    const id = encodeURIComponent(cam.id);
    const badge = G.el('span', { class: 'badge', dataset: { state: cam.state || 'unknown' } },
      G.stateLabel(cam.state));
    if (cam.last_error && cam.state !== 'recording') badge.title = cam.last_error;
    const stateCell = G.el('td', { class: 'nowrap' }, badge);
    if (cam.state_since_utc_us) {
      const since = cam.state_since_utc_us;
      const sameDay = G.parisDay(since) === G.parisDay(G.nowUs());
      stateCell.append(G.el('span', { class: 'since muted', title: G.formatDateTime(since) },
        ` depuis ${sameDay ? G.formatTime(since) : G.formatDateTime(since)}`));
    }
    const can = Array.isArray(cam.can) ? cam.can : [];
    const live = cam.enabled && can.includes('live');
    const actions = G.el('td', { class: 'actions' });
    if (live) {
      actions.append(G.el('a', { class: 'btn btn-small', href: `/live/${id}`, dataset: { action: 'live' } },
        'Direct'));
    }
    if (can.includes('playback')) {
      actions.append(G.el('a', { class: 'btn btn-small', href: `/playback/${id}`,
        dataset: { action: 'playback' } }, 'Relecture'));
    }
    if (!actions.childNodes.length) {
      actions.append(G.el('span', { class: 'muted', title: 'Votre compte ne donne pas accès aux images de cette caméra.' },
        'État seulement'));
    }
    const name = G.el('td', { class: 'cam-name nowrap' },
      live ? G.el('a', { href: `/live/${id}` }, cam.name) : cam.name);
    return G.el('tr', { dataset: { cameraId: cam.id, state: cam.state || 'unknown' } },
      name,
      G.el('td', {}, cam.site || '—'),
      G.el('td', {}, ownerLabel(cam.owner)),
      stateCell,
      lastSegmentCell(cam),
      G.el('td', { class: 'num' }, G.formatInt(cam.segments)),
      G.el('td', { class: 'num nowrap' }, G.formatBytes(cam.size_bytes)),
      G.el('td', { class: 'num nowrap' }, cam.retention_days != null ? `${cam.retention_days} j` : '—'),
      actions);
  }

  async function refresh() {
    try {
      const cameras = await G.fetchJson('/api/cameras');
      body.replaceChildren(...cameras.map(row));
      const total = cameras.reduce((a, c) => a + (c.size_bytes || 0), 0);
      const rec = cameras.filter((c) => c.state === 'recording').length;
      summary.textContent = `${cameras.length} caméra${cameras.length > 1 ? 's' : ''} · ` +
        `${rec} en enregistrement · ${G.formatBytes(total)} enregistrés`;
      empty.hidden = cameras.length > 0;
      empty.textContent = 'Aucune caméra enregistrée pour le moment.';
    } catch (err) {
      summary.textContent = `Liste des caméras indisponible : ${err.message}`;
    }
  }
  refresh();
  setInterval(refresh, 10000);
})();

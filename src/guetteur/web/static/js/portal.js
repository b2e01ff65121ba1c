/*
 * Guetteur – landlord portal: one row per camera of the landlord's partner (GET /api/cameras
 * answers only those), with its state badge, since when it is in that state and the end of its
 * last recorded segment, in Paris time. Refreshed every 10 s.
 *
 * Invariant: no media here. No <video>, no image of a camera, no link to a live or playback
 * page, no request to a media route: the tests record every request of this page.
 */
'use strict';

(function () {
  const G = window.Guetteur;
  const body = document.getElementById('portal-body');
  const summary = document.getElementById('portal-summary');
  const updated = document.getElementById('portal-updated');
  const empty = document.getElementById('portal-empty');
  const REFRESH_MS = 10000;
  const LATE_S = 120; // a recording camera whose last segment is older than this is late

  /** "14:05:09" today, "24/11/2025 14:05:09" another day, with "il y a …" in the title. */
  function instantCell(us, extraClass) {
    if (us == null) return G.el('td', { class: 'muted' }, '—');
    const sameDay = G.parisDay(us) === G.parisDay(G.nowUs());
    const ago = `il y a ${G.formatDuration((G.nowUs() - us) / 1e6)}`;
    return G.el('td', { class: `nowrap ${extraClass || ''}`.trim(), title: `${G.formatDateTime(us)} (${ago})` },
      sameDay ? `aujourd'hui ${G.formatTime(us)}` : G.formatDateTime(us),
      G.el('span', { class: 'since muted' }, ` · ${ago}`));
  }

  function row(cam) {
    const badge = G.el('span', { class: 'badge', dataset: { state: cam.state || 'unknown' } },
      G.stateLabel(cam.state));
    if (cam.last_error && cam.state !== 'recording') badge.title = cam.last_error;
    const lastUs = cam.last_segment_end_utc_us;
    const late = cam.enabled && (lastUs == null || (G.nowUs() - lastUs) / 1e6 > LATE_S);
    return G.el('tr', { dataset: { cameraId: cam.id, state: cam.state || 'unknown' } },
      G.el('td', { class: 'cam-name nowrap' }, cam.name),
      G.el('td', {}, cam.site || '—'),
      G.el('td', { class: 'nowrap' }, badge),
      instantCell(cam.state_since_utc_us),
      instantCell(lastUs, late ? 'warn-text' : ''),
      G.el('td', { class: 'num nowrap' }, cam.retention_days != null ? `${cam.retention_days} j` : '—'));
  }

  async function refresh() {
    try {
      const cameras = await G.fetchJson('/api/cameras');
      body.replaceChildren(...cameras.map(row));
      const rec = cameras.filter((c) => c.state === 'recording').length;
      const down = cameras.filter((c) => c.enabled && c.state !== 'recording').length;
      summary.textContent = `${cameras.length} caméra${cameras.length > 1 ? 's' : ''} · ` +
        `${rec} en enregistrement` + (down ? ` · ${down} en défaut` : '');
      summary.classList.toggle('warn-text', down > 0);
      updated.textContent = `Mis à jour à ${G.formatTime(G.nowUs())}`;
      empty.hidden = cameras.length > 0;
      empty.textContent = 'Aucune caméra rattachée à votre organisme pour le moment.';
    } catch (err) {
      summary.textContent = `État des caméras indisponible : ${err.message}`;
      summary.classList.add('warn-text');
    }
  }
  refresh();
  setInterval(refresh, REFRESH_MS);
})();

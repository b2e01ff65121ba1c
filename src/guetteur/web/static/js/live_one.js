/*
 * Guetteur – single-camera live view: the main stream, large, with its state badge, a latency
 * readout and a full-screen button. The badge (and the « Relecture » button, shown only with the
 * playback right) is refreshed every 5 s from GET /api/cameras/{id}. « Relecture » opens the
 * playback page 30 s before now: playback reaches a few seconds behind live (the segment being
 * written is playable), so an operator can rewind what they just saw.
 */
'use strict';

(function () {
  const G = window.Guetteur;
  const data = G.pageData();
  const cam = data.camera;
  const video = document.getElementById('live-video');
  const badge = document.getElementById('cam-state');
  const stats = document.getElementById('live-stats');
  const stage = document.getElementById('live-stage');
  const fullscreen = document.getElementById('btn-fullscreen');

  function showState(state, lastError) {
    badge.textContent = G.stateLabel(state);
    badge.dataset.state = state || 'unknown';
    if (lastError && state !== 'recording') badge.title = lastError;
    else badge.removeAttribute('title');
  }
  if (cam.state) showState(cam.state);

  if (!cam.enabled) {
    const overlay = G.el('div', { class: 'overlay', dataset: { level: 'warn' } },
      'Caméra désactivée : pas de direct. Les enregistrements restent consultables en relecture.');
    stage.appendChild(overlay);
  } else {
    const player = new window.LivePlayer(video, { cameraId: cam.id, stream: 'main' });
    player.start();
    window.guetteurLive = player;
    setInterval(() => {
      const s = player.stats();
      if (s.state === 'live' && s.latency_s != null) {
        stats.textContent = `Retard ≈ ${G.formatDecimal(s.latency_s)} s`;
        stats.title = s.first_frame_ms != null
          ? `Première image après ${G.formatDecimal(s.first_frame_ms / 1000)} s` : '';
      } else {
        stats.textContent = '';
      }
    }, 1000);
  }

  const playbackLink = document.getElementById('link-playback');
  const REWIND_US = 30e6;
  playbackLink.addEventListener('click', (ev) => {
    if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey) {
      playbackLink.href = playbackUrl();  // a new tab: the instant of the click too
      return;
    }
    ev.preventDefault();
    location.assign(playbackUrl());
  });
  function playbackUrl() {
    const t = Math.round(G.nowUs() - REWIND_US);
    return `/playback/${encodeURIComponent(cam.id)}?day=${G.parisDay(t)}&t=${t}`;
  }
  async function refresh() {
    try {
      const c = await G.fetchJson(`/api/cameras/${encodeURIComponent(cam.id)}`);
      showState(c.state, c.last_error);
      // The playback button only for those who may play this camera back.
      playbackLink.hidden = !(Array.isArray(c.can) && c.can.includes('playback'));
    } catch (err) {
      badge.title = err.message;
    }
  }
  setInterval(refresh, 5000);
  refresh();

  fullscreen.addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (stage.requestFullscreen) stage.requestFullscreen().catch(() => {});
  });
  document.addEventListener('fullscreenchange', () => {
    fullscreen.textContent = document.fullscreenElement ? 'Quitter le plein écran' : 'Plein écran';
  });
  document.addEventListener('keydown', (ev) => {
    if (G.isTyping(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === 'f' || ev.key === 'F') fullscreen.click();
    else if (ev.key === 'Escape' && !document.fullscreenElement) location.assign('/live');
  });
})();

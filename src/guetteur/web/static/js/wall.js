/*
 * Guetteur – the live wall: one tile per enabled camera this user may watch live (`can`
 * includes "live" in GET /api/cameras), on the sub stream when the camera has one (`has_sub`),
 * else main, each with its name, site and state badge. A click opens /live/{id}.
 *
 * Invariants: tiles are keyed by camera id and kept across refreshes (a refresh never restarts a
 * playing stream unless the camera's stream choice changed); the grid picks the number of
 * columns that shows every tile as large as possible without scrolling, down to a minimum tile
 * width below which the page scrolls.
 */
'use strict';

(function () {
  const G = window.Guetteur;
  const wall = document.getElementById('wall');
  const summary = document.getElementById('wall-summary');
  const empty = document.getElementById('wall-empty');
  const REFRESH_MS = (parseInt(wall.dataset.refreshS, 10) || 5) * 1000;
  const MIN_TILE_W = 280;
  const GAP = 8;
  const CAPTION_H = 34;

  /** camera id -> {cam, node, video, badge, name, site, player, stream} */
  const tiles = new Map();

  function streamFor(cam) { return cam.has_sub || cam.sub_url ? 'sub' : 'main'; }
  function mayWatch(cam) { return Array.isArray(cam.can) && cam.can.includes('live'); }

  function buildTile(cam) {
    const stream = streamFor(cam);
    const video = G.el('video', {
      class: 'tile-video', muted: true, playsinline: true, autoplay: true,
      disablepictureinpicture: true,
      dataset: { cameraId: cam.id, stream },
      'aria-label': `Direct de la caméra ${cam.name}`,
    });
    const overlay = G.el('div', { class: 'overlay', hidden: true });
    const screen = G.el('div', { class: 'tile-screen' }, video, overlay);
    const name = G.el('span', { class: 'tile-name' });
    const site = G.el('span', { class: 'tile-site' });
    const badge = G.el('span', { class: 'badge' });
    const caption = G.el('div', { class: 'tile-caption' }, name, site, badge);
    const node = G.el('a', {
      class: 'tile', href: `/live/${encodeURIComponent(cam.id)}`,
      dataset: { cameraId: cam.id },
      title: 'Ouvrir cette caméra en grand',
    }, screen, caption);
    const player = new window.LivePlayer(video, { cameraId: cam.id, stream, overlay });
    const tile = { cam, node, video, badge, name, site, player, stream };
    updateTile(tile, cam);
    return tile;
  }

  function updateTile(tile, cam) {
    tile.cam = cam;
    tile.name.textContent = cam.name;
    tile.name.title = cam.name;
    tile.site.textContent = cam.site || '';
    tile.site.title = cam.site || '';
    tile.badge.textContent = G.stateLabel(cam.state);
    tile.badge.dataset.state = cam.state || 'unknown';
    tile.node.dataset.state = cam.state || 'unknown';
    if (cam.last_error && cam.state !== 'recording') tile.badge.title = cam.last_error;
    else tile.badge.removeAttribute('title');
  }

  function layout() {
    const n = tiles.size;
    if (!n) return;
    const width = wall.clientWidth;
    const top = wall.getBoundingClientRect().top + window.scrollY;
    const height = Math.max(240, window.innerHeight - top - 16);
    let bestCols = 1;
    let bestW = 0;
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const wByWidth = (width - GAP * (cols - 1)) / cols;
      const hPerTile = (height - GAP * (rows - 1)) / rows - CAPTION_H;
      const w = Math.min(wByWidth, (hPerTile * 16) / 9);
      if (w > bestW + 0.5) { bestW = w; bestCols = cols; }
    }
    if (bestW < MIN_TILE_W) {
      bestCols = Math.max(1, Math.min(n, Math.floor((width + GAP) / (MIN_TILE_W + GAP))));
      wall.style.maxWidth = '';
    } else {
      wall.style.maxWidth = `${Math.floor(bestCols * bestW + GAP * (bestCols - 1))}px`;
    }
    wall.style.setProperty('--cols', String(bestCols));
  }

  function renderSummary(cameras) {
    const enabled = cameras.filter((c) => c.enabled);
    const count = (s) => enabled.filter((c) => c.state === s).length;
    const parts = [`${enabled.length} caméra${enabled.length > 1 ? 's' : ''} active${enabled.length > 1 ? 's' : ''}`];
    const rec = count('recording');
    parts.push(`${rec} en enregistrement`);
    const rc = count('reconnecting');
    if (rc) parts.push(`${rc} en reconnexion`);
    const st = count('stopped');
    if (st) parts.push(`${st} arrêtée${st > 1 ? 's' : ''}`);
    const disabled = cameras.length - enabled.length;
    if (disabled) parts.push(`${disabled} désactivée${disabled > 1 ? 's' : ''} (non affichée${disabled > 1 ? 's' : ''})`);
    summary.textContent = parts.join(' · ');
    summary.classList.toggle('warn', rc + st > 0);
  }

  function apply(all) {
    const cameras = all.filter(mayWatch);
    const shown = cameras.filter((c) => c.enabled);
    const wanted = new Set(shown.map((c) => String(c.id)));
    let changed = false;
    for (const [id, tile] of tiles) {
      if (!wanted.has(id)) {
        tile.player.stop();
        tile.node.remove();
        tiles.delete(id);
        changed = true;
      }
    }
    shown.forEach((cam, index) => {
      const id = String(cam.id);
      let tile = tiles.get(id);
      if (tile && tile.stream !== streamFor(cam)) {
        tile.player.stop();
        tile.node.remove();
        tiles.delete(id);
        tile = null;
      }
      if (!tile) {
        tile = buildTile(cam);
        tiles.set(id, tile);
        changed = true;
        tile.player.start();
      } else {
        updateTile(tile, cam);
      }
      if (wall.children[index] !== tile.node) wall.insertBefore(tile.node, wall.children[index] || null);
    });
    renderSummary(cameras);
    empty.hidden = shown.length > 0;
    if (!shown.length) {
      empty.textContent = cameras.length
        ? 'Toutes les caméras sont désactivées. Voir la page Caméras.'
        : (all.length ? 'Votre compte ne donne accès en direct à aucune de ces caméras.'
          : 'Aucune caméra enregistrée pour le moment.');
    }
    if (changed) layout();
  }

  async function refresh() {
    try {
      const cameras = await G.fetchJson('/api/cameras');
      apply(cameras);
    } catch (err) {
      summary.textContent = `Liste des caméras indisponible : ${err.message}`;
      summary.classList.add('warn');
    }
  }

  window.addEventListener('resize', layout);
  refresh();
  setInterval(refresh, REFRESH_MS);

  // For tests and the curious: the players on this wall.
  window.guetteurWall = {
    players() { return Array.from(tiles.values(), (t) => t.player); },
    stats() { return Array.from(tiles.values(), (t) => t.player.stats()); },
  };
})();

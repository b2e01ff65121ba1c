/*
 * Guetteur – LivePlayer: one camera's live stream, fMP4 over a WebSocket into Media Source
 * Extensions (contract: docs/design/web-api.md, « WS /api/cameras/{id}/live »).
 *
 * Protocol: a text {"type":"init","mime":...} announces that the next binary message is an init
 * segment (ftyp+moov); every other binary message is a media fragment (moof+mdat). A new init
 * mid-stream (the recorder switched files) is appended as is: the SourceBuffer is in "sequence"
 * mode, so media time keeps increasing whatever the timestamps in the fragments. A text
 * {"type":"status","state":"reconnecting"} means the camera is offline;
 * {"type":"status","state":"forbidden"}, then a close with code 4403, means the viewer's right
 * ended while watching (habilitation or grant expired, grant revoked): the player says so and
 * never reconnects. A close with 4401 (session ended) sends the user to the login page.
 *
 * Invariants:
 * - at most one appendBuffer/remove in flight: everything goes through `queue`, drained on
 *   `updateend` (a SourceBuffer throws if touched while `updating`);
 * - the video chases the live edge: when more than 0.6 s is buffered ahead of the playhead it
 *   jumps to 0.3 s before the end (so the picture stays under 1 s behind the camera); buffer
 *   older than 10 s behind the playhead is removed;
 * - a closed socket is reopened with exponential backoff (1 s to 15 s), reset once the server
 *   sends an init again; the MediaSource is kept across reconnections so the last image stays
 *   on screen under the overlay;
 * - the video is muted (autoplay policy) and plays inline;
 * - a frozen image never passes for live: after 3 s without media the overlay says so.
 *
 * States (player.state, also video.dataset.playerState): idle, connecting, live, stalled,
 * camera_offline, disconnected, forbidden, error, stopped.
 */
'use strict';

(function () {
  const EDGE_MAX_S = 0.6;       // jump when this far behind the newest buffered frame
                                // (0.6 + one 200-ms fragment keeps the picture under 1 s)
  const EDGE_TARGET_S = 0.3;    // ... to this far behind it
  const KEEP_BEHIND_S = 10;     // buffer kept behind the playhead
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 15000;
  const STALL_MS = 3000;        // no media for this long while live: say the image is frozen
  const SILENCE_MS = 10000;     // no message for this long while live: reopen the socket
  const TICK_MS = 500;
  const CLOSE_FORBIDDEN = 4403; // the right to watch ended (or was never there)
  const CLOSE_UNAUTHENTICATED = 4401; // the session ended

  const MESSAGES = {
    connecting: 'Connexion…',
    camera_offline: 'Caméra injoignable – reconnexion…',
    disconnected: 'Connexion au serveur perdue – reconnexion…',
    stalled: 'Image figée – flux interrompu…',
    silent: 'Flux interrompu – reconnexion…',
    unsupported: 'Format vidéo non pris en charge par ce navigateur.',
    no_mse: 'Ce navigateur ne sait pas lire la vidéo en direct (Media Source Extensions absentes).',
    not_found: 'Caméra inconnue ou supprimée.',
    forbidden: 'Accès refusé à cette caméra.',
    expired: "Droit d'accès expiré : le direct de cette caméra n'est plus autorisé pour votre compte.",
    session: 'Session expirée – reconnexion nécessaire…',
    decode_error: 'Erreur de lecture – reconnexion…',
  };

  class LivePlayer {
    /**
     * @param {HTMLVideoElement} video  carries data-camera-id (and optionally data-stream)
     * @param {object} [opts]  {cameraId, stream: 'main'|'sub', overlay: Element,
     *                          onStateChange(state, player)}
     */
    constructor(video, opts) {
      const o = opts || {};
      this.video = video;
      this.cameraId = String(o.cameraId != null ? o.cameraId : video.dataset.cameraId);
      this.stream = o.stream || video.dataset.stream || 'main';
      this.onStateChange = o.onStateChange || null;
      this.overlay = o.overlay || this._makeOverlay();
      this.state = 'idle';
      this.ws = null;
      this.ms = null;
      this.sb = null;
      this.objectUrl = null;
      this.mime = null;
      this.queue = [];
      this.expectInit = false;
      this.trimWanted = false;
      this.stopped = true;
      this.backoffMs = BACKOFF_MIN_MS;
      this.reconnectTimer = null;
      this.tickTimer = null;
      this.lastMessageAt = 0;
      this.lastDataAt = 0;
      this.fragmentsAtConnect = 0;
      this.startedAt = 0;
      this.firstFrameMs = null;
      this.hasFrames = false;
      this.counters = { bytes: 0, fragments: 0, inits: 0, reconnects: 0, jumps: 0, errors: 0 };
      this.lastError = null;

      video.muted = true;
      video.defaultMuted = true;
      video.playsInline = true;
      video.autoplay = true;
      video.setAttribute('muted', '');
      video.setAttribute('playsinline', '');
      video.setAttribute('autoplay', '');
      video.dataset.cameraId = this.cameraId;

      this._onLoadedData = () => {
        if (this.firstFrameMs == null) this.firstFrameMs = Math.round(performance.now() - this.startedAt);
        this.hasFrames = true;
        if (this.state === 'connecting' || this.state === 'live') this._hideOverlay();
      };
      this._onPlaying = () => {
        if (this.state === 'live' || this.state === 'connecting') {
          this._hideOverlay();
          this._setState('live');
        }
      };
      this._onVideoError = () => this._fail(new Error(`video error ${video.error && video.error.code}`));
      this._onVisibility = () => { if (!document.hidden) this._chase(); };
    }

    /** Open the stream (idempotent). */
    start() {
      if (!this.stopped) return this;
      this.stopped = false;
      this.startedAt = performance.now();
      if (!('MediaSource' in window)) {
        this._setState('error');
        this._showOverlay(MESSAGES.no_mse, 'error');
        return this;
      }
      this.video.addEventListener('loadeddata', this._onLoadedData);
      this.video.addEventListener('playing', this._onPlaying);
      this.video.addEventListener('error', this._onVideoError);
      document.addEventListener('visibilitychange', this._onVisibility);
      this.tickTimer = setInterval(() => this._tick(), TICK_MS);
      this._connect();
      return this;
    }

    /** Close the socket, release the MediaSource, stop every timer. */
    stop() {
      this.stopped = true;
      clearTimeout(this.reconnectTimer);
      clearInterval(this.tickTimer);
      this.reconnectTimer = null;
      this.tickTimer = null;
      this.video.removeEventListener('loadeddata', this._onLoadedData);
      this.video.removeEventListener('playing', this._onPlaying);
      this.video.removeEventListener('error', this._onVideoError);
      document.removeEventListener('visibilitychange', this._onVisibility);
      this._closeSocket();
      this._teardownMedia();
      this._setState('stopped');
    }

    /** Figures for monitoring and tests. latency_s: newest buffered frame minus the playhead. */
    stats() {
      const v = this.video;
      const b = v.buffered;
      const end = b.length ? b.end(b.length - 1) : null;
      const q = typeof v.getVideoPlaybackQuality === 'function' ? v.getVideoPlaybackQuality() : null;
      return {
        camera_id: this.cameraId,
        stream: this.stream,
        state: this.state,
        current_time_s: v.currentTime,
        latency_s: end == null ? null : Math.max(0, end - v.currentTime),
        buffered_s: end == null ? 0 : end - b.start(0),
        first_frame_ms: this.firstFrameMs,
        bytes: this.counters.bytes,
        fragments: this.counters.fragments,
        inits: this.counters.inits,
        reconnects: this.counters.reconnects,
        jumps: this.counters.jumps,
        errors: this.counters.errors,
        queued: this.queue.length,
        frames_total: q ? q.totalVideoFrames : null,
        frames_dropped: q ? q.droppedVideoFrames : null,
        socket: this.ws ? ['connecting', 'open', 'closing', 'closed'][this.ws.readyState] : 'none',
        last_error: this.lastError,
      };
    }

    // ---------------------------------------------------------------- socket

    _url() {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      return `${proto}//${location.host}/api/cameras/${encodeURIComponent(this.cameraId)}` +
        `/live?stream=${encodeURIComponent(this.stream)}`;
    }

    _connect() {
      if (this.stopped || this.state === 'forbidden') return;
      this._closeSocket();
      if (!this.hasFrames) this._showOverlay(MESSAGES.connecting, 'info');
      if (this.state !== 'camera_offline') this._setState('connecting');
      let ws;
      try {
        ws = new WebSocket(this._url());
      } catch (err) {
        this.lastError = String(err);
        this._scheduleReconnect();
        return;
      }
      ws.binaryType = 'arraybuffer';
      let opened = false;
      this.ws = ws;
      this.expectInit = false;
      this.fragmentsAtConnect = this.counters.fragments;
      this.lastMessageAt = performance.now();
      ws.onopen = () => { opened = true; this.lastMessageAt = performance.now(); };
      ws.onmessage = (ev) => { if (this.ws === ws) this._onMessage(ev); };
      ws.onerror = () => { /* a close event follows */ };
      ws.onclose = (ev) => {
        if (this.ws !== ws) return;
        this.ws = null;
        if (this.stopped) return;
        this._onClosed(ev, opened);
      };
    }

    _closeSocket() {
      const ws = this.ws;
      this.ws = null;
      if (ws) {
        ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
        try { ws.close(1000); } catch (err) { /* already closed */ }
      }
    }

    async _onClosed(ev, opened) {
      if (ev.code === CLOSE_FORBIDDEN || this.state === 'forbidden') {
        this._forbid(opened ? MESSAGES.expired : MESSAGES.forbidden);
        return;
      }
      if (ev.code === CLOSE_UNAUTHENTICATED) {
        this._forbid(MESSAGES.session);
        window.Guetteur.toLogin();
        return;
      }
      if (this.state !== 'camera_offline') {
        this._setState('disconnected');
        this._showOverlay(MESSAGES.disconnected, 'warn');
      }
      if (!opened) {
        // The handshake was refused: find out why before hammering the server.
        const verdict = await this._probe();
        if (this.stopped) return;
        if (verdict === 401) { window.Guetteur.toLogin(); return; }
        if (verdict === 403) { this._forbid(this.hasFrames ? MESSAGES.expired : MESSAGES.forbidden); return; }
        if (verdict === 404) {
          this._setState('error');
          this._showOverlay(MESSAGES.not_found, 'error');
          return;
        }
      }
      this._scheduleReconnect();
    }

    /** Why a handshake was refused: an HTTP status; 403 also when the camera is known but
     * this user may no longer watch it live (its `can` list lacks "live"). */
    async _probe() {
      try {
        const r = await fetch(`/api/cameras/${encodeURIComponent(this.cameraId)}`,
          { credentials: 'same-origin', headers: { Accept: 'application/json' } });
        if (r.ok) {
          const cam = await r.json().catch(() => null);
          if (cam && Array.isArray(cam.can) && !cam.can.includes('live')) return 403;
        }
        return r.status;
      } catch (err) {
        return 0;
      }
    }

    /** The right to watch is gone: say so, keep the last image dimmed, never reconnect. */
    _forbid(text) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
      this._closeSocket();
      this._setState('forbidden');
      this._showOverlay(text, 'error');
    }

    _scheduleReconnect() {
      if (this.stopped || this.state === 'forbidden') return;
      clearTimeout(this.reconnectTimer);
      const delay = this.backoffMs * (0.8 + 0.4 * Math.random());
      this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
      this.counters.reconnects += 1;
      this.reconnectTimer = setTimeout(() => this._connect(), delay);
    }

    _onMessage(ev) {
      this.lastMessageAt = performance.now();
      if (typeof ev.data === 'string') {
        let msg;
        try { msg = JSON.parse(ev.data); } catch (err) { return; }
        if (msg && msg.type === 'init' && msg.mime) this._onInit(msg.mime);
        else if (msg && msg.type === 'status') this._onStatus(msg);
        return;
      }
      const data = ev.data;
      this.lastDataAt = this.lastMessageAt;
      this.counters.bytes += data.byteLength;
      if (this.expectInit) {
        this.expectInit = false;
        this.counters.inits += 1;
      } else {
        if (!this.mime) return; // media before any init: nothing can decode it
        this.counters.fragments += 1;
        if (this.state !== 'live' && this.state !== 'connecting') this._setState('connecting');
      }
      this.queue.push({ kind: 'data', data });
      this._pump();
    }

    _onInit(mime) {
      this.backoffMs = BACKOFF_MIN_MS;
      if (!MediaSource.isTypeSupported(mime)) {
        this.lastError = `unsupported ${mime}`;
        this._setState('error');
        this._showOverlay(`${MESSAGES.unsupported} (${mime})`, 'error');
        this._closeSocket();
        return;
      }
      const usable = this.ms && this.ms.readyState !== 'closed' && !this.video.error;
      if (!usable) {
        this._createMediaSource(mime);
      } else if (mime !== this.mime) {
        if (this.sb && typeof this.sb.changeType === 'function') {
          this.queue.push({ kind: 'changeType', mime });
        } else if (this.sb) {
          this._createMediaSource(mime);
        } // else: sourceopen pending, it will use the newest mime
      }
      this.mime = mime;
      this.expectInit = true;
      if (this.state === 'camera_offline' || this.state === 'disconnected') this._setState('connecting');
    }

    _onStatus(msg) {
      if (msg.state === 'forbidden') {
        // The server closes with 4403 right after; no reconnection from here on.
        this._setState('forbidden');
        this._showOverlay(MESSAGES.expired, 'error');
        return;
      }
      if (msg.state === 'reconnecting' || msg.state === 'offline') {
        this._setState('camera_offline');
        this._showOverlay(MESSAGES.camera_offline, 'warn');
      } else if (this.hasFrames) {
        this._hideOverlay();
      }
    }

    // ---------------------------------------------------------------- media

    _createMediaSource(mime) {
      this._teardownMedia();
      const ms = new MediaSource();
      this.ms = ms;
      this.sb = null;
      this.queue = [];
      this.objectUrl = URL.createObjectURL(ms);
      ms.addEventListener('sourceopen', () => {
        if (this.ms !== ms) return;
        try {
          const sb = ms.addSourceBuffer(this.mime || mime);
          sb.mode = 'sequence';
          sb.addEventListener('updateend', () => { if (this.sb === sb) this._pump(); });
          sb.addEventListener('error', () => { if (this.sb === sb) this._fail(new Error('SourceBuffer error')); });
          this.sb = sb;
        } catch (err) {
          this._fail(err);
          return;
        }
        this._pump();
      }, { once: true });
      this.video.src = this.objectUrl;
    }

    _teardownMedia() {
      this.sb = null;
      this.queue = [];
      if (this.ms) {
        const ms = this.ms;
        this.ms = null;
        try { if (ms.readyState === 'open') ms.endOfStream(); } catch (err) { /* ignore */ }
      }
      if (this.objectUrl) {
        this.video.removeAttribute('src');
        try { this.video.load(); } catch (err) { /* ignore */ }
        URL.revokeObjectURL(this.objectUrl);
        this.objectUrl = null;
      }
    }

    /** Feed the SourceBuffer one operation at a time. */
    _pump() {
      const sb = this.sb;
      if (!sb || !this.ms || this.ms.readyState !== 'open' || sb.updating) return;
      if (this.trimWanted) {
        this.trimWanted = false;
        const cut = this.video.currentTime - KEEP_BEHIND_S;
        const b = sb.buffered;
        if (b.length && cut > b.start(0) + 0.5) {
          try { sb.remove(0, cut); return; } catch (err) { /* retry next tick */ }
        }
      }
      while (this.queue.length) {
        const item = this.queue[0];
        try {
          if (item.kind === 'changeType') {
            this.queue.shift();
            sb.changeType(item.mime);
            continue;
          }
          sb.appendBuffer(item.data);
          this.queue.shift();
          return; // updateend calls us again
        } catch (err) {
          if (err && err.name === 'QuotaExceededError') {
            this.trimWanted = true;
            this._trimHard();
            return;
          }
          this._fail(err);
          return;
        }
      }
      this._chase();
    }

    _trimHard() {
      const sb = this.sb;
      const cut = this.video.currentTime - 2;
      if (sb && !sb.updating && sb.buffered.length && cut > sb.buffered.start(0)) {
        try { sb.remove(0, cut); } catch (err) { /* ignore */ }
      }
    }

    /** Keep the playhead near the newest frame, and playing. */
    _chase() {
      const v = this.video;
      const b = v.buffered;
      if (!b.length) return;
      const last = b.length - 1;
      const end = b.end(last);
      const start = b.start(last);
      const ct = v.currentTime;
      let inside = false;
      for (let i = 0; i < b.length; i++) {
        if (ct >= b.start(i) && ct <= b.end(i)) { inside = true; break; }
      }
      if (end - ct > EDGE_MAX_S || (!inside && ct < start)) {
        v.currentTime = Math.max(start, end - EDGE_TARGET_S);
        this.counters.jumps += 1;
      }
      if (v.paused && !v.ended && v.readyState >= 2) {
        const p = v.play();
        if (p && p.catch) p.catch(() => {});
      }
    }

    _tick() {
      if (this.stopped) return;
      const v = this.video;
      if (this.sb && !this.sb.updating && v.buffered.length
          && v.currentTime - v.buffered.start(0) > KEEP_BEHIND_S + 2) {
        this.trimWanted = true;
        this._pump();
      }
      this._chase();
      if (this.state === 'connecting' && this.counters.fragments > this.fragmentsAtConnect
          && v.readyState >= 2 && !v.paused) {
        this._hideOverlay();
        this._setState('live');
      }
      const now = performance.now();
      if (this.state === 'live' && now - this.lastDataAt > STALL_MS) {
        this._setState('stalled');
        this._showOverlay(MESSAGES.stalled, 'warn');
      }
      if (this.ws && (this.state === 'live' || this.state === 'stalled')
          && now - this.lastMessageAt > SILENCE_MS) {
        this._showOverlay(MESSAGES.silent, 'warn');
        this._setState('disconnected');
        this._closeSocket();
        this._scheduleReconnect();
      }
    }

    _fail(err) {
      this.counters.errors += 1;
      this.lastError = err && err.message ? err.message : String(err);
      if (this.stopped || this.state === 'forbidden') return;
      // Start again from a fresh MediaSource: the server resends an init on a new socket.
      this._showOverlay(MESSAGES.decode_error, 'warn');
      this._setState('disconnected');
      this._closeSocket();
      this._teardownMedia();
      this.mime = null;
      this.hasFrames = false;
      this._scheduleReconnect();
    }

    // ---------------------------------------------------------------- overlay

    _makeOverlay() {
      const host = this.video.parentElement;
      let node = host ? host.querySelector(':scope > .overlay') : null;
      if (!node) {
        node = document.createElement('div');
        node.className = 'overlay';
        node.hidden = true;
        if (host) host.appendChild(node);
      }
      return node;
    }

    _showOverlay(text, level) {
      if (!this.overlay) return;
      this.overlay.textContent = text;
      this.overlay.dataset.level = level || 'info';
      this.overlay.hidden = false;
    }

    _hideOverlay() {
      if (this.overlay) this.overlay.hidden = true;
    }

    _setState(state) {
      if (this.state === state) return;
      this.state = state;
      this.video.dataset.playerState = state;
      if (this.onStateChange) {
        try { this.onStateChange(state, this); } catch (err) { /* a UI callback must not kill the player */ }
      }
    }
  }

  LivePlayer.MESSAGES = MESSAGES;
  window.LivePlayer = LivePlayer;
})();

/*
 * Guetteur – playback page: one camera, one Paris day.
 *
 * hls.js plays the day's VOD playlist (GET /api/cameras/{id}/playback.m3u8?from=&to=). Every
 * recorded file is one HLS fragment carrying its wall-clock start (EXT-X-PROGRAM-DATE-TIME), so
 * a wall-clock instant maps to a media position through the fragments:
 *     frag with programDateTime <= t < programDateTime + duration  ->  frag.start + offset,
 * and back. Gaps between files are not in the media timeline: a click in a gap plays from the
 * next recorded instant. The timeline (GET .../timeline) is refreshed every 30 s; when the day is
 * today and the recording has grown past the loaded playlist, the playlist is reloaded as soon as
 * the user asks for (or plays into) the newer part.
 *
 * The clip panel is clip.js (present only with the export right, `can_export`), the timeline
 * drawing timeline.js.
 *
 * Investigators (`needs_case`) must first give the reference of their judicial requisition:
 * nothing loads before, and it is sent as `reason=` with the playlist (which passes it on to
 * every segment address) and the clip, so that each access is logged under its case. It is
 * remembered for the tab (sessionStorage) to prefill the field, never applied unasked.
 *
 * Exposes window.guetteurPlayback = {seekTo(utc_us), currentUtcUs(), hls} for tests.
 */
'use strict';

(function () {
  const G = window.Guetteur;
  const Timeline = window.GuetteurTimeline;
  const data = G.pageData();
  const CASE_KEY = 'guetteur.caseRef';

  if (data.needs_case) askCaseRef(); else main(null);

  /** Investigators: the case reference first, then the page. */
  function askCaseRef() {
    const gate = document.getElementById('case-gate');
    const form = document.getElementById('case-form');
    const input = document.getElementById('case-ref');
    const msg = document.getElementById('case-msg');
    gate.hidden = false;
    try { input.value = sessionStorage.getItem(CASE_KEY) || ''; } catch (err) { /* private mode */ }
    input.focus();
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const ref = input.value.trim();
      if (ref.length < 3) {
        msg.textContent = 'Indiquez la référence de la réquisition judiciaire (au moins 3 caractères).';
        msg.dataset.level = 'warn';
        input.focus();
        return;
      }
      try { sessionStorage.setItem(CASE_KEY, ref); } catch (err) { /* private mode */ }
      gate.hidden = true;
      const banner = document.getElementById('case-banner');
      document.getElementById('case-banner-ref').textContent = ref;
      banner.hidden = false;
      document.getElementById('case-change').addEventListener('click', () => location.reload());
      document.getElementById('pb-main').hidden = false;
      main(ref);
    });
  }

  function main(caseRef) {
    const cam = data.camera;
    const camId = encodeURIComponent(cam.id);
    const DAY_START = data.day_start_utc_us;
    const DAY_END = data.day_end_utc_us;
    const FRAME_S = 0.04;
    const TIMELINE_REFRESH_MS = 30000;

    const $ = (id) => document.getElementById(id);
    const video = $('pb-video');
    const overlay = $('pb-overlay');
    const stamp = $('pb-stamp');
    const clockTime = $('pb-clock');
    const clockDate = $('pb-clock-date');
    const btnPlay = $('pb-play');
    const tlStatus = $('tl-status');

    const todayDay = () => G.parisDay(G.nowUs());
    const isToday = () => data.day === todayDay();

    let hls = null;
    let frags = [];            // fragments of the loaded playlist, in media order
    let playlistEndUs = null;  // wall-clock end of the last loaded fragment
    let pendingSeekUs = null;  // asked before the playlist was there
    let timelineData = null;
    let reloading = false;
    let firstPositionKnown = false;
    let noticeTimer = null;

    const timeline = new Timeline($('timeline'), $('tl-axis'), {
      dayStartUs: DAY_START, dayEndUs: DAY_END, onSeek: (us) => seekTo(us),
    });
    const reasonQuery = caseRef ? `&reason=${encodeURIComponent(caseRef)}` : '';
    // Without the export right there is no clip panel on the page: a stand-in that does nothing.
    const clipPanel = data.can_export && $('clip-download') ? new window.GuetteurClipPanel({
      cameraId: cam.id,
      timeline,
      reasonQuery,
      currentUtcUs: () => currentUtcUs(),
      spans: () => (timelineData ? timelineData.spans : null),
    }) : { prefill() {}, validate() {} };

    // ------------------------------------------------------------------ overlay and notices

    function showOverlay(text, level) {
      overlay.textContent = text;
      overlay.dataset.level = level || 'info';
      overlay.hidden = false;
    }
    function hideOverlay() { overlay.hidden = true; }

    function notice(text, level) {
      tlStatus.textContent = text;
      tlStatus.dataset.level = level || 'info';
      clearTimeout(noticeTimer);
      if (text) noticeTimer = setTimeout(() => { tlStatus.textContent = ''; }, 8000);
    }

    // ------------------------------------------------------------------ wall clock <-> media

    /** Index of the last fragment whose programDateTime <= ms, or -1. */
    function fragIndexAtOrBefore(ms) {
      let lo = 0;
      let hi = frags.length - 1;
      let found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (frags[mid].programDateTime <= ms) { found = mid; lo = mid + 1; } else hi = mid - 1;
      }
      return found;
    }

    /**
     * Media position for a wall-clock instant: {pos, utcUs, snapped} or null when nothing is
     * recorded at or after it in the loaded playlist.
     */
    function positionFor(utcUs) {
      if (!frags.length) return null;
      const ms = utcUs / 1000;
      const i = fragIndexAtOrBefore(ms);
      if (i >= 0) {
        const f = frags[i];
        const off = (ms - f.programDateTime) / 1000;
        if (off < f.duration) return { pos: f.start + Math.max(0, off), utcUs, snapped: false };
      }
      const next = frags[i + 1];
      if (!next) return null;
      return { pos: next.start, utcUs: next.programDateTime * 1000, snapped: true };
    }

    /** Wall-clock instant (UTC µs) of a media position, or null. */
    function utcAt(pos) {
      if (!frags.length) return null;
      let lo = 0;
      let hi = frags.length - 1;
      let found = 0;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (frags[mid].start <= pos) { found = mid; lo = mid + 1; } else hi = mid - 1;
      }
      const f = frags[found];
      const off = Math.min(Math.max(0, pos - f.start), f.duration);
      return Math.round((f.programDateTime + off * 1000) * 1000);
    }

    function currentUtcUs() {
      if (!frags.length) {
        const d = hls && hls.playingDate;
        return d ? d.getTime() * 1000 : null;
      }
      return utcAt(video.currentTime);
    }

    function playlistUrl() {
      return `/api/cameras/${camId}/playback.m3u8?from=${DAY_START}&to=${DAY_END}${reasonQuery}`;
    }

    function recordedAfter(us) {
      if (!timelineData) return false;
      return timelineData.spans.some((s) => s.end_utc_us > us + 1e6);
    }

    // ------------------------------------------------------------------ hls.js

    function startHls(targetUs, autoplay) {
      if (!window.Hls || !window.Hls.isSupported()) {
        showOverlay('Ce navigateur ne peut pas lire les enregistrements (Media Source Extensions absentes).', 'error');
        return;
      }
      if (hls) { hls.destroy(); hls = null; }
      frags = [];
      pendingSeekUs = targetUs;
      // A new MediaSource restarts the element's autoplay: keep a paused video paused.
      video.autoplay = autoplay !== false;
      showOverlay('Chargement de l’enregistrement…', 'info');
      const h = new window.Hls({
        autoStartLoad: false,
        enableWorker: true,
        maxBufferLength: 20,
        maxMaxBufferLength: 60,
        backBufferLength: 30,
        startFragPrefetch: true,
        manifestLoadingMaxRetry: 2,
        fragLoadingMaxRetry: 4,
      });
      hls = h;
      h.on(window.Hls.Events.LEVEL_LOADED, (_ev, d) => { if (hls === h) onPlaylist(d.details); });
      h.on(window.Hls.Events.ERROR, (_ev, d) => { if (hls === h) onHlsError(d); });
      h.on(window.Hls.Events.FRAG_CHANGED, () => { if (hls === h) hideOverlayIfPlaying(); });
      h.attachMedia(video);
      h.loadSource(playlistUrl());
    }

    function onPlaylist(details) {
      const first = !frags.length;
      frags = details.fragments.filter((f) => f.programDateTime != null);
      if (!frags.length) {
        showOverlay('Aucun enregistrement ce jour-là pour cette caméra. Choisissez un autre jour ou une autre caméra.', 'warn');
        return;
      }
      const last = frags[frags.length - 1];
      playlistEndUs = Math.round((last.programDateTime + last.duration * 1000) * 1000);
      if (!first) return;
      let target = pendingSeekUs;
      pendingSeekUs = null;
      const asked = target != null;
      if (!asked) {
        // Today: the last half-minute recorded; another day: its first recorded image.
        target = isToday() ? playlistEndUs - 30e6 : frags[0].programDateTime * 1000;
      }
      let p = positionFor(target);
      if (!p) {
        p = { pos: Math.max(0, last.start + last.duration - 2), utcUs: playlistEndUs - 2e6, snapped: true };
        notice(`Pas d'enregistrement après ${G.formatTime(target)} : lecture de la fin de l'enregistrement.`, 'warn');
      } else if (p.snapped && asked) {
        notice(`Pas d'enregistrement à ${G.formatTime(target)} : lecture à partir de ${G.formatTime(p.utcUs)}.`, 'warn');
      }
      hls.startLoad(p.pos);
      if (Math.abs(video.currentTime - p.pos) > 0.5) {
        try { video.currentTime = p.pos; } catch (err) { /* hls.js seeks once metadata is known */ }
      }
      if (video.autoplay) play();
    }

    function onHlsError(d) {
      if (!d.fatal) return;
      const E = window.Hls.ErrorTypes;
      const D = window.Hls.ErrorDetails;
      if (d.type === E.NETWORK_ERROR) {
        const status = d.response && d.response.code;
        if (status === 401) { G.toLogin(); return; }
        if (d.details === D.MANIFEST_LOAD_ERROR || d.details === D.MANIFEST_PARSING_ERROR
            || d.details === D.LEVEL_EMPTY_ERROR || d.details === D.LEVEL_PARSING_ERROR) {
          if (status === 404 || d.details !== D.MANIFEST_LOAD_ERROR) {
            showOverlay('Aucun enregistrement ce jour-là pour cette caméra. Choisissez un autre jour ou une autre caméra.', 'warn');
          } else {
            showOverlay(`Impossible de charger l'enregistrement (${status || 'réseau'}). Nouvel essai dans 5 s…`, 'error');
            setTimeout(() => startHls(currentUtcUs()), 5000);
          }
          return;
        }
        showOverlay('Lecture interrompue (réseau) – reprise…', 'warn');
        const here = currentUtcUs();
        setTimeout(() => startHls(here), 2000);
        return;
      }
      if (d.type === E.MEDIA_ERROR) {
        showOverlay('Erreur de décodage – reprise…', 'warn');
        hls.recoverMediaError();
        return;
      }
      showOverlay(`Lecture impossible : ${d.details}.`, 'error');
    }

    function hideOverlayIfPlaying() {
      if (video.readyState >= 2) hideOverlay();
    }

    // ------------------------------------------------------------------ commands

    function play() {
      const p = video.play();
      if (p && p.catch) p.catch(() => {});
    }

    /** Show the image recorded at a wall-clock instant (UTC µs). */
    function seekTo(utcUs) {
      utcUs = Math.round(Number(utcUs));
      if (!Number.isFinite(utcUs)) return;
      if (utcUs < DAY_START || utcUs >= DAY_END) {
        const day = G.parisDay(utcUs);
        location.assign(`/playback/${camId}?day=${day}&t=${utcUs}`);
        return;
      }
      if (!frags.length) { pendingSeekUs = utcUs; return; }
      const beyond = playlistEndUs != null && utcUs >= playlistEndUs - 1e6;
      if (beyond && isToday() && !reloading) {
        // Recorded since the playlist was loaded? Ask the timeline, then reload if so.
        refreshTimeline().then(() => {
          if (recordedAfter(playlistEndUs)) reloadPlaylist(utcUs);
          else seekLoaded(utcUs);
        });
        return;
      }
      seekLoaded(utcUs);
    }

    function seekLoaded(utcUs) {
      const p = positionFor(utcUs);
      if (!p) {
        const tl = timelineData && timelineData.now_utc_us && utcUs > timelineData.now_utc_us;
        notice(tl ? 'Cet instant est dans le futur.' : `Pas d'enregistrement après ${G.formatTime(utcUs)}.`, 'warn');
        return;
      }
      if (p.snapped) {
        const what = timeline.describe(utcUs);
        const why = what.kind === 'gap' ? ` (${Timeline.reasonLabel(what.reason)})` : '';
        notice(`Pas d'image à ${G.formatTime(utcUs)}${why} : lecture à partir de ${G.formatTime(p.utcUs)}.`, 'warn');
      } else {
        notice('');
      }
      video.currentTime = p.pos;
      timeline.setPlayhead(p.utcUs);
    }

    function reloadPlaylist(targetUs, keepPaused) {
      reloading = true;
      const autoplay = keepPaused === false || !video.paused;
      startHls(targetUs, autoplay);
      const done = () => { reloading = false; };
      video.addEventListener('seeked', done, { once: true });
      setTimeout(done, 5000);
    }

    function togglePlay() {
      if (video.paused || video.ended) play(); else video.pause();
    }

    // Until the first image of the chosen instant is there, currentTime is not yet where the
    // operator thinks it is: relative moves would start from the beginning of the day.
    const ready = () => frags.length && video.readyState >= 1 && !reloading;

    function step(seconds) {
      if (!ready()) return;
      video.pause();
      const max = Number.isFinite(video.duration) ? video.duration : Infinity;
      video.currentTime = Math.min(max, Math.max(0, video.currentTime + seconds));
    }

    function jump(seconds) {
      if (!ready()) return;
      const max = Number.isFinite(video.duration) ? video.duration - 0.1 : Infinity;
      const to = video.currentTime + seconds;
      if (to > max && isToday() && playlistEndUs && recordedAfter(playlistEndUs)) {
        reloadPlaylist(currentUtcUs() + seconds * 1e6);
        return;
      }
      video.currentTime = Math.min(max, Math.max(0, to));
    }

    $('pb-play').addEventListener('click', togglePlay);
    $('pb-frame-back').addEventListener('click', () => step(-FRAME_S));
    $('pb-frame-fwd').addEventListener('click', () => step(FRAME_S));
    $('pb-back10').addEventListener('click', () => jump(-10));
    $('pb-fwd10').addEventListener('click', () => jump(10));
    $('pb-rate').addEventListener('change', (ev) => { video.playbackRate = parseFloat(ev.target.value) || 1; });
    video.addEventListener('click', togglePlay);
    video.addEventListener('ratechange', () => { $('pb-rate').value = String(video.playbackRate); });

    function syncPlayButton() {
      const paused = video.paused || video.ended;
      btnPlay.textContent = paused ? '▶ Lecture' : '❚❚ Pause';
      btnPlay.setAttribute('aria-pressed', paused ? 'false' : 'true');
    }
    video.addEventListener('play', syncPlayButton);
    video.addEventListener('pause', syncPlayButton);
    video.addEventListener('playing', hideOverlay);
    video.addEventListener('seeked', hideOverlayIfPlaying);
    video.addEventListener('loadeddata', hideOverlayIfPlaying);
    // Today: the recording goes on after the playlist was loaded. At its end, wait for the next
    // segment to be written (one every few seconds), then reload and play on: the operator can
    // follow a scene up to a few seconds behind live.
    let followTimer = null;
    function followRecording(hereUs, startedMs) {
      clearTimeout(followTimer);
      if (!video.ended || reloading) return;
      if (Date.now() - startedMs > 60000) {
        notice("Fin de l'enregistrement disponible. Pour les images en cours, ouvrez le direct.", 'info');
        return;
      }
      notice("Fin de l'enregistrement disponible : en attente de la suite…", 'info');
      refreshTimeline().then(() => {
        if (!video.ended) return;
        if (playlistEndUs && recordedAfter(playlistEndUs)) {
          notice('');
          reloadPlaylist(hereUs + 100000, false);
        }
        else followTimer = setTimeout(() => followRecording(hereUs, startedMs), 2000);
      });
    }
    video.addEventListener('ended', () => {
      if (isToday()) followRecording(currentUtcUs(), Date.now());
      else notice('Fin des enregistrements de ce jour.', 'info');
    });
    syncPlayButton();

    document.addEventListener('keydown', (ev) => {
      if (G.isTyping(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const actions = {
        ' ': togglePlay, k: togglePlay, ArrowLeft: () => jump(-10), ArrowRight: () => jump(10),
        ',': () => step(-FRAME_S), '.': () => step(FRAME_S),
      };
      const f = actions[ev.key];
      if (f) { ev.preventDefault(); f(); }
    });

    // ------------------------------------------------------------------ clock and playhead

    let lastShownUs = null;
    function frame() {
      const us = currentUtcUs();
      if (us !== lastShownUs) {
        lastShownUs = us;
        if (us == null) {
          clockTime.textContent = '--:--:--';
          stamp.textContent = '';
        } else {
          clockTime.replaceChildren(G.formatTime(us),
            G.el('span', { class: 'ms' }, `,${G.formatMillis(us)}`));
          const long = G.formatLongDate(us);
          clockDate.textContent = long.charAt(0).toUpperCase() + long.slice(1);
          stamp.textContent = `${cam.name} · ${G.formatDateTime(us)}`;
          if (!reloading) timeline.setPlayhead(us);
          if (!firstPositionKnown && frags.length && video.readyState >= 1) {
            firstPositionKnown = true;
            clipPanel.prefill(us);
          }
        }
      }
      requestAnimationFrame(frame);
    }
    requestAnimationFrame(frame);

    // ------------------------------------------------------------------ timeline data

    async function refreshTimeline() {
      try {
        const t = await G.fetchJson(`/api/cameras/${camId}/timeline?from=${DAY_START}&to=${DAY_END}&stream=main`);
        timelineData = t;
        timeline.setData(t);
        const total = t.spans.reduce((a, s) => a + (s.end_utc_us - s.start_utc_us), 0) / 1e6;
        $('timeline').dataset.recordedS = String(Math.round(total));
        if (!t.spans.length) notice('Aucun enregistrement ce jour-là.', 'warn');
        clipPanel.validate();
      } catch (err) {
        notice(`Frise indisponible : ${err.message}`, 'error');
      }
    }

    document.querySelectorAll('[data-zoom]').forEach((b) => {
      b.addEventListener('click', () => {
        document.querySelectorAll('[data-zoom]').forEach((x) => x.classList.toggle('active', x === b));
        timeline.setZoom(parseInt(b.dataset.zoom, 10) || 0, currentUtcUs());
      });
    });

    // ------------------------------------------------------------------ day and camera pickers

    const dayInput = $('pb-day');
    dayInput.max = todayDay();
    const goDay = (day) => { if (day && day <= todayDay()) location.assign(`/playback/${camId}?day=${day}`); };
    $('pb-prev-day').addEventListener('click', () => goDay(G.addDays(data.day, -1)));
    $('pb-next-day').addEventListener('click', () => goDay(G.addDays(data.day, 1)));
    $('pb-today').addEventListener('click', () => location.assign(`/playback/${camId}`));
    $('pb-next-day').disabled = data.day >= todayDay();
    $('pb-today').disabled = isToday();
    dayInput.addEventListener('change', () => goDay(dayInput.value));
    $('pb-camera').addEventListener('change', (ev) => {
      const us = currentUtcUs();
      const q = us != null ? `?day=${data.day}&t=${us}` : `?day=${data.day}`;
      location.assign(`/playback/${encodeURIComponent(ev.target.value)}${q}`);
    });

    // ------------------------------------------------------------------ start

    window.guetteurPlayback = {
      seekTo,
      currentUtcUs,
      get hls() { return hls; },
      timeline: () => timelineData,
      positionFor,
      utcAt,
    };

    // « Voir en direct » only for those who may watch this camera live.
    G.fetchJson(`/api/cameras/${camId}`).then((c) => {
      $('pb-live-link').hidden = !(c && Array.isArray(c.can) && c.can.includes('live'));
    }).catch(() => {});

    refreshTimeline();
    setInterval(refreshTimeline, TIMELINE_REFRESH_MS);
    startHls(data.t_utc_us != null ? data.t_utc_us : null);
  }
})();

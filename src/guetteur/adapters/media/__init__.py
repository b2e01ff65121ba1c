"""Media adapters: ffmpeg processes, fragmented-MP4 parsing, remuxing."""

"""Call legs that are not telephony transports: text chat and WAV files."""

"""The bundled Asterisk 22: a Debian sid root built once, instances run in it by chroot."""

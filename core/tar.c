/* tar.c - placeholder */

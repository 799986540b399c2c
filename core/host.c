/* host.c - placeholder */

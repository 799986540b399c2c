/* compress.c - placeholder */

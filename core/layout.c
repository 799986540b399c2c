/* layout.c - placeholder */

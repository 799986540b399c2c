/* build.c - placeholder */

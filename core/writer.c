/* writer.c - placeholder */

/* model.c - placeholder */

/* scan.c - placeholder */

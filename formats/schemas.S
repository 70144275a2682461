/*
 * schemas.S — the bundled XML schemas, embedded in the binary so that
 * validation never reads a schema from disk or the network and always uses
 * the bytes noted in formats/schemas/ORIGIN.md.  sahke2.c parses the
 * SÄHKE2 ones once at start-up (sahke2_init), retention/plan.c the JHS 191
 * ones (plan_init; the first includes the second and imports the third by
 * file name, which plan.c answers from these bytes).  .incbin paths are relative to the assembler's
 * working folder: make runs from the top of the tree.
 *
 * Each schema is a symbol and an _end symbol; the size is end - start (a
 * NUL byte follows each, outside that size, for whoever wants a string).
 */
	.section .rodata
	.balign 16

	.globl	sailo_xsd_sahke2_2011
	.type	sailo_xsd_sahke2_2011, @object
sailo_xsd_sahke2_2011:
	.incbin	"formats/schemas/Sahke2_2011_12.xsd"
	.globl	sailo_xsd_sahke2_2011_end
sailo_xsd_sahke2_2011_end:
	.size	sailo_xsd_sahke2_2011, sailo_xsd_sahke2_2011_end - sailo_xsd_sahke2_2011
	.byte	0

	.balign 16
	.globl	sailo_xsd_sahke2_2019
	.type	sailo_xsd_sahke2_2019, @object
sailo_xsd_sahke2_2019:
	.incbin	"formats/schemas/Sahke2_2019_03.xsd"
	.globl	sailo_xsd_sahke2_2019_end
sailo_xsd_sahke2_2019_end:
	.size	sailo_xsd_sahke2_2019, sailo_xsd_sahke2_2019_end - sailo_xsd_sahke2_2019
	.byte	0

	.balign 16
	.globl	sailo_xsd_jhs191_kooste
	.type	sailo_xsd_jhs191_kooste, @object
sailo_xsd_jhs191_kooste:
	.incbin	"formats/schemas/jhs191/Skeema_TOS_kooste.xsd"
	.globl	sailo_xsd_jhs191_kooste_end
sailo_xsd_jhs191_kooste_end:
	.size	sailo_xsd_jhs191_kooste, sailo_xsd_jhs191_kooste_end - sailo_xsd_jhs191_kooste
	.byte	0

	.balign 16
	.globl	sailo_xsd_jhs191_atomaariset
	.type	sailo_xsd_jhs191_atomaariset, @object
sailo_xsd_jhs191_atomaariset:
	.incbin	"formats/schemas/jhs191/Skeema_TOS_atomaariset.xsd"
	.globl	sailo_xsd_jhs191_atomaariset_end
sailo_xsd_jhs191_atomaariset_end:
	.size	sailo_xsd_jhs191_atomaariset, sailo_xsd_jhs191_atomaariset_end - sailo_xsd_jhs191_atomaariset
	.byte	0

	.balign 16
	.globl	sailo_xsd_jhs191_ydin
	.type	sailo_xsd_jhs191_ydin, @object
sailo_xsd_jhs191_ydin:
	.incbin	"formats/schemas/jhs191/JHSydin20091019.xsd"
	.globl	sailo_xsd_jhs191_ydin_end
sailo_xsd_jhs191_ydin_end:
	.size	sailo_xsd_jhs191_ydin, sailo_xsd_jhs191_ydin_end - sailo_xsd_jhs191_ydin
	.byte	0

	/* No executable stack: the linker would otherwise assume one. */
	.section .note.GNU-stack,"",@progbits
